import CATImage
import CATImageCore
import CATImageGateway
import Foundation
import Testing

/// A logged bandit problem with a known truth: features `x ~ N(0, I)`, three generators whose mean reward is
/// linear in `x`, rewards with Gaussian noise, and an ε-greedy logging policy around a fixed linear rule.
struct SyntheticBandit {
    static let actions = 3
    static let dimension = 6
    var features: Matrix
    var log: LoggedBandit
    /// The mean reward `μ_a(x_i)` of every action per row.
    var means: [[Double]]

    init(rows: Int, epsilon: Double, seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        func normal() -> Double {
            let u = Double.random(in: Double.ulpOfOne..<1, using: &random)
            let v = Double.random(in: 0..<1, using: &random)
            return (-2 * Foundation.log(u)).squareRoot() * cos(2 * .pi * v)
        }
        let d = Self.dimension
        let bias = [1.0, 1.2, 0.8]
        // Each generator's slope on feature j: 0.25 · ((a + 1) · (j mod 3) − 2).
        var slopes: [[Double]] = []
        for a in 0..<Self.actions {
            var row: [Double] = []
            for j in 0..<d { row.append(0.25 * Double((a + 1) * (j % 3) - 2)) }
            slopes.append(row)
        }
        var storage: [Float] = []
        var actions: [Int] = []
        var propensities: [Double] = []
        var rewards: [Double] = []
        var means: [[Double]] = []
        for _ in 0..<rows {
            let x = (0..<d).map { _ in normal() }
            storage += x.map { Float($0) }
            var mean: [Double] = []
            for a in 0..<Self.actions {
                var value = bias[a]
                for j in 0..<d { value += slopes[a][j] * x[j] }
                mean.append(value)
            }
            means.append(mean)
            // The logging rule sees only the first two features, so it is good but not optimal.
            let rule = x[0] > 0.3 ? 0 : (x[1] > 0 ? 1 : 2)
            let explore = Double.random(in: 0..<1, using: &random) < epsilon
            let action = explore ? Int.random(in: 0..<Self.actions, using: &random) : rule
            let uniform = epsilon / Double(Self.actions)
            actions.append(action)
            propensities.append(action == rule ? 1 - epsilon + uniform : uniform)
            rewards.append(mean[action] + 0.5 * normal())
        }
        features = Matrix(rows: rows, columns: d, storage: storage)
        log = LoggedBandit(actions: actions, propensities: propensities, rewards: rewards, actionCount: Self.actions)
        self.means = means
    }

    /// A target policy other than the logging rule: the best action by the third and fourth features.
    var target: [Int] {
        (0..<log.count).map { i in features[i, 2] > 0 ? 2 : (features[i, 3] > 0.5 ? 1 : 0) }
    }

    /// The target's true mean reward on these rows.
    var truth: Double {
        zip(target, means).reduce(0) { $0 + $1.1[$1.0] } / Double(log.count)
    }
}

@Suite("Off-policy evaluation")
struct OffPolicyEvaluationTests {
    @Test(
        "IPS is unbiased, DR has lower variance, and 95% intervals cover the truth at about 95% (ε-greedy, 3 generators)"
    )
    func estimatorsOnSyntheticBandits() throws {
        let replications = 200
        let z = OffPolicyEstimators.z(confidence: 0.95)
        var errors: [String: [Double]] = ["ips": [], "snips": [], "dr": []]
        var covered: [String: Int] = ["ips": 0, "snips": 0, "dr": 0]
        for seed in 0..<replications {
            let problem = SyntheticBandit(rows: 1500, epsilon: 0.3, seed: UInt64(seed) + 1)
            let target = problem.target
            let model = try CrossFittedRewardModel.predictions(
                features: problem.features, log: problem.log, folds: 2, alpha: 1, seed: UInt64(seed))
            let estimates: [String: OffPolicyInterval] = [
                "ips": OffPolicyEstimators.inversePropensity(problem.log, target: target, z: z),
                "snips": try #require(OffPolicyEstimators.selfNormalized(problem.log, target: target, z: z)),
                "dr": OffPolicyEstimators.doublyRobust(problem.log, target: target, rewardModel: model, z: z),
            ]
            for (name, interval) in estimates {
                errors[name, default: []].append(interval.estimate - problem.truth)
                if interval.contains(problem.truth) { covered[name, default: 0] += 1 }
            }
        }
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }
        func variance(_ values: [Double]) -> Double {
            let m = mean(values)
            return values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)
        }
        let ips = try #require(errors["ips"])
        let dr = try #require(errors["dr"])
        // Unbiased: the mean error is within 4 standard errors of zero.
        #expect(abs(mean(ips)) < 4 * (variance(ips) / Double(replications)).squareRoot())
        #expect(abs(mean(dr)) < 4 * (variance(dr) / Double(replications)).squareRoot())
        #expect(variance(dr) < 0.7 * variance(ips), "DR variance \(variance(dr)) vs IPS \(variance(ips))")
        // Coverage of 200 intervals at 95%: binomial sd 1.5 points, so [88%, 99.5%] is more than 4 sd wide.
        for (name, count) in covered {
            let rate = Double(count) / Double(replications)
            #expect(rate >= 0.88 && rate <= 0.995, "\(name) covered the truth in \(count)/\(replications)")
        }
    }

    @Test("The normal quantile matches known values")
    func normalQuantile() {
        #expect(abs(OffPolicyEstimators.z(confidence: 0.95) - 1.959964) < 1e-6)
        #expect(abs(OffPolicyEstimators.z(confidence: 0.99) - 2.575829) < 1e-6)
        #expect(abs(OffPolicyEstimators.normalQuantile(0.01) + 2.326348) < 1e-6)
    }

    static func decision(_ id: String, served: String?, propensity: Double?, prompt: String = "a cat")
        -> DecisionRecord
    {
        DecisionRecord(
            time: Date(timeIntervalSince1970: 0), requestID: id, endpoint: "images", prompt: prompt,
            chosenGenerator: served ?? "a", servedBy: served, lambda: 0, lambdaSource: "default",
            predicted: ["a": 1, "b": 2], cost: 1, latencyMilliseconds: 1, decisionMilliseconds: 1, status: 200,
            propensity: propensity)
    }

    static func feedback(_ id: String, _ score: Double, metric: String? = "clip") -> FeedbackRecord {
        FeedbackRecord(time: Date(timeIntervalSince1970: 1), requestID: id, score: score, metric: metric)
    }

    @Test("Rows join their feedback by request id, averaging several scores, and excluded rows are counted by reason")
    func joinCountsRows() throws {
        var fallback = Self.decision("r4", served: "b", propensity: 0.9)
        fallback.chosenGenerator = "a"
        let decisions = [
            Self.decision("r1", served: "a", propensity: 0.9), Self.decision("r2", served: "b", propensity: 0.05),
            Self.decision("r3", served: "a", propensity: nil), fallback,
            Self.decision("r5", served: nil, propensity: 0.9),
            Self.decision("r6", served: "b", propensity: 0.05),
        ]
        let feedback = [
            Self.feedback("r1", 30), Self.feedback("r1", 32), Self.feedback("r2", 35), Self.feedback("r3", 1),
            Self.feedback("r4", 1), Self.feedback("r1", 99, metric: "nima"),
        ]
        let rows = try OffPolicyEvaluation.usableRows(decisions: decisions, feedback: feedback, metric: "clip")
        #expect(rows.generators == ["a", "b"])
        #expect(rows.rewards == [31, 35])
        #expect(rows.actions == [0, 1])
        #expect(rows.propensities == [0.9, 0.05])
        #expect(
            rows.rows
                == .init(decisions: 6, usable: 2, notServed: 1, forced: 1, fallback: 1, noFeedback: 1))
    }

    @Test("A log without propensities, without feedback, or with an unnamed choice of metrics is refused clearly")
    func badLogs() {
        let forced = [Self.decision("r1", served: "a", propensity: nil)]
        #expect(throws: OffPolicyError.self) {
            try OffPolicyEvaluation.usableRows(decisions: forced, feedback: [Self.feedback("r1", 1)], metric: nil)
        }
        do {
            _ = try OffPolicyEvaluation.usableRows(
                decisions: forced, feedback: [Self.feedback("r1", 1)], metric: nil)
        } catch let error as OffPolicyError {
            #expect(error.code == .noPropensities)
            #expect(error.message.contains("exploration"))
        } catch { Issue.record("unexpected \(error)") }
        let explored = [Self.decision("r1", served: "a", propensity: 0.1)]
        func code(_ feedback: [FeedbackRecord], _ metric: String?) -> OffPolicyError.Code? {
            do {
                _ = try OffPolicyEvaluation.usableRows(decisions: explored, feedback: feedback, metric: metric)
                return nil
            } catch { return (error as? OffPolicyError)?.code }
        }
        #expect(code([], nil) == .noFeedback)
        #expect(code([Self.feedback("other", 1)], nil) == .noFeedback)
        #expect(code([Self.feedback("r1", 1)], "nima") == .unknownMetric)
        #expect(code([Self.feedback("r1", 1), Self.feedback("r1", 2, metric: "nima")], nil) == .ambiguousMetric)
        #expect(code([Self.feedback("r1", 1, metric: nil)], nil) == nil)
    }

    @Test("A candidate router with a generator the log never saw is refused, naming the generator")
    func unknownGenerator() async throws {
        let router = try await TestRouter.shared()
        let decisions = [Self.decision("r1", served: "a", propensity: 0.5)]
        do {
            _ = try OffPolicyEvaluation.evaluate(
                decisions: decisions, feedback: [Self.feedback("r1", 1)], candidate: router)
            Issue.record("evaluated a router whose generators the log never saw")
        } catch let error as OffPolicyError {
            #expect(error.code == .unknownGenerator)
            #expect(router.generators.map(\.name).contains(error.value ?? ""))
        }
    }
}
