import CATImage
import CATImageCore
import Foundation
import Logging

/// Off-policy evaluation of a candidate router on a decision log: the mean quality and cost it would have had
/// on the logged traffic, from decisions with propensities and the feedback scored on their images.
///
/// Reads plain `[DecisionRecord]` + `[FeedbackRecord]`, so it works against any log store.
public enum OffPolicyEvaluation {
    /// What to evaluate and how.
    public struct Options: Sendable, Equatable {
        /// The feedback metric (`nil`: the only one present).
        public var metric: String?
        /// The candidate's λ (`nil`: from `budget`, else the router's default).
        public var lambda: Double?
        /// A mean-cost budget resolved to λ by the candidate's calibration table.
        public var budget: Double?
        /// Two-sided confidence of the normal-approximation intervals.
        public var confidence: Double
        /// Cross-fitting folds of the reward model.
        public var folds: Int
        /// Ridge penalty of the reward model.
        public var ridgeAlpha: Double
        public var seed: UInt64

        public init(
            metric: String? = nil, lambda: Double? = nil, budget: Double? = nil, confidence: Double = 0.95,
            folds: Int = 2, ridgeAlpha: Double = 1, seed: UInt64 = 0
        ) {
            precondition(confidence > 0 && confidence < 1, "confidence in (0, 1)")
            self.metric = metric
            self.lambda = lambda
            self.budget = budget
            self.confidence = confidence
            self.folds = folds
            self.ridgeAlpha = ridgeAlpha
            self.seed = seed
        }
    }

    /// The usable rows of a log: served decisions with a propensity and feedback of one metric.
    public struct UsableRows: Sendable, Equatable {
        public var metric: String?
        /// The generators the logging policy chose among (sorted).
        public var generators: [String]
        public var prompts: [String]
        /// Index into `generators` of the served generator, per row.
        public var actions: [Int]
        public var propensities: [Double]
        /// The mean feedback score of the row's request.
        public var rewards: [Double]
        public var costs: [Double?]
        public var explored: [Bool]
        public var rows: OffPolicyReport.Rows

        public var bandit: LoggedBandit {
            LoggedBandit(
                actions: actions, propensities: propensities, rewards: rewards, actionCount: generators.count)
        }
    }

    /// Joins decisions with their feedback (several scores of the metric per request are averaged).
    public static func usableRows(
        decisions: [DecisionRecord], feedback: [FeedbackRecord], metric requested: String?
    ) throws -> UsableRows {
        let selected = try FeedbackScores(feedback, metric: requested)
        let metric = selected.metric
        var names = Set<String>()
        for decision in decisions {
            names.formUnion(decision.predicted.keys)
            names.insert(decision.chosenGenerator)
        }
        let generators = names.sorted()
        let index = Dictionary(uniqueKeysWithValues: generators.enumerated().map { ($1, $0) })
        var usable = UsableRows(
            metric: metric, generators: generators, prompts: [], actions: [], propensities: [], rewards: [],
            costs: [], explored: [],
            rows: .init(
                decisions: decisions.count, usable: 0, notServed: 0, forced: 0, fallback: 0, noFeedback: 0))
        for decision in decisions {
            guard let served = decision.servedBy else {
                usable.rows.notServed += 1
                continue
            }
            guard let propensity = decision.propensity, propensity > 0, propensity <= 1 else {
                usable.rows.forced += 1
                continue
            }
            guard served == decision.chosenGenerator, let action = index[served] else {
                usable.rows.fallback += 1
                continue
            }
            guard let reward = selected.scores[decision.requestID] else {
                usable.rows.noFeedback += 1
                continue
            }
            usable.prompts.append(decision.prompt)
            usable.actions.append(action)
            usable.propensities.append(propensity)
            usable.rewards.append(reward)
            usable.costs.append(decision.cost)
            usable.explored.append(decision.explored)
        }
        usable.rows.usable = usable.actions.count
        guard usable.rows.usable > 0 else {
            if usable.rows.forced + usable.rows.notServed == decisions.count {
                throw OffPolicyError(
                    .noPropensities,
                    "no served decision of the \(decisions.count) in the log has a propensity: turn exploration on "
                        + "(exploration.rate) and route with model \"auto\"")
            }
            throw OffPolicyError(
                .noFeedback, value: metric,
                "none of the \(usable.rows.noFeedback + usable.rows.fallback) served decisions with a propensity "
                    + "has feedback" + (metric.map { " of metric '\($0)'" } ?? ""))
        }
        return usable
    }

    /// Estimates `candidate`'s mean quality (IPS, SNIPS, DR) and mean cost on the log's usable rows.
    ///
    /// The candidate's prompt embeddings (its encoder) feed both its own predictions and the DR reward model,
    /// a per-generator ridge on those embeddings cross-fitted on the logged rows (``CrossFittedRewardModel``).
    public static func evaluate(
        decisions: [DecisionRecord], feedback: [FeedbackRecord], candidate: Router, options: Options = Options(),
        logger: Logger = Logger(label: "catimage.ope")
    ) throws -> OffPolicyReport {
        let rows = try usableRows(decisions: decisions, feedback: feedback, metric: options.metric)
        let names = candidate.generators.map(\.name)
        if let unknown = names.first(where: { !rows.generators.contains($0) }) {
            throw OffPolicyError(
                .unknownGenerator, value: unknown,
                "the candidate router's generator '\(unknown)' never appears in the log (its generators: "
                    + rows.generators.joined(separator: ", ") + "): its picks cannot be evaluated off-policy")
        }
        let lambda = try resolveLambda(candidate, options)
        logger.debug("off-policy evaluation", metadata: ["rows": "\(rows.rows.usable)", "lambda": "\(lambda)"])
        // The reward model reads the features whatever the candidate's estimator reads.
        let input = candidate.encoder.input(
            for: rows.prompts, reads: candidate.estimator.spec.reads.union(.features))
        let features = input.features
        let costs = candidate.costs
        let picks = candidate.estimator.predict(input).map {
            RoutingRule.choose(predicted: $0, costs: costs, lambda: lambda)
        }
        let target = picks.map { rows.generators.firstIndex(of: names[$0]) ?? 0 }
        let model: [[Double]]
        do {
            model = try CrossFittedRewardModel.predictions(
                features: features, log: rows.bandit, folds: options.folds, alpha: options.ridgeAlpha,
                seed: options.seed)
        } catch {
            throw OffPolicyError(.rewardModel, "the reward model could not be fitted: \(error)")
        }
        return report(
            rows: rows, target: target, targetCosts: picks.map { costs[$0] }, lambda: lambda, rewardModel: model,
            options: options)
    }

    /// The report for a target policy given as logging-generator indices, with its per-row costs.
    public static func report(
        rows: UsableRows, target: [Int], targetCosts: [Double], lambda: Double, rewardModel: [[Double]],
        options: Options
    ) -> OffPolicyReport {
        let z = OffPolicyEstimators.z(confidence: options.confidence)
        let log = rows.bandit
        let n = Double(rows.rows.usable)
        func shares(_ actions: [Int]) -> [String: Double] {
            var shares: [String: Double] = [:]
            for a in actions { shares[rows.generators[a], default: 0] += 1 / n }
            return shares
        }
        let loggedCosts = rows.costs.compactMap { $0 }
        let agreement = Double(zip(target, rows.actions).filter { $0 == $1 }.count) / n
        return OffPolicyReport(
            metric: rows.metric, confidence: options.confidence, generators: rows.generators, rows: rows.rows,
            deployed: .init(
                quality: OffPolicyInterval(meanOf: rows.rewards, z: z),
                cost: loggedCosts.isEmpty ? nil : loggedCosts.reduce(0, +) / Double(loggedCosts.count),
                shares: shares(rows.actions), exploredShare: Double(rows.explored.filter { $0 }.count) / n),
            candidate: .init(
                lambda: lambda, ips: OffPolicyEstimators.inversePropensity(log, target: target, z: z),
                snips: OffPolicyEstimators.selfNormalized(log, target: target, z: z),
                dr: OffPolicyEstimators.doublyRobust(log, target: target, rewardModel: rewardModel, z: z),
                cost: targetCosts.reduce(0, +) / n, shares: shares(target), agreement: agreement,
                effectiveSampleSize: OffPolicyEstimators.effectiveSampleSize(log, target: target)),
            rewardModel: "per-generator ridge (α = \(options.ridgeAlpha)) on the prompt embeddings, "
                + "\(options.folds)-fold cross-fitted on the logged rows")
    }

    static func resolveLambda(_ candidate: Router, _ options: Options) throws -> Double {
        if let lambda = options.lambda { return lambda }
        guard let budget = options.budget else { return candidate.defaultLambda }
        guard let lambda = candidate.lambda(forBudget: budget) else {
            let floor = candidate.calibration.map(\.cost).min().map { "\($0)" } ?? "unknown"
            throw OffPolicyError(
                .unmetBudget, value: "\(budget)",
                "budget \(budget) is below the candidate's cheapest calibrated routing (mean cost \(floor))")
        }
        return lambda
    }
}
