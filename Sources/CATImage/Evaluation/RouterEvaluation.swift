import CATImageCore
import CATImageEncoder

/// How the prompts are split into parts to train on and evaluate.
public enum EvaluationSplit: Sendable, Equatable {
    /// k-fold cross-validation: every prompt is tested once.
    case folds(Int, seed: UInt64)
    /// One train/test split per seed.
    case trainTest(testFraction: Double, seeds: [UInt64])
}

/// Evaluation of routers on a dataset, exactly as DESIGN.md ("Evaluation") defines it.
///
/// On each part, every estimator is fitted on the training prompts; the router's rule uses the training
/// part's mean cost of each generator, while its points use each test prompt's realised cost when the data
/// has one. Figures are averaged over parts, with their standard deviation.
public enum RouterEvaluation {
    /// Budgets (as fractions of the cost range between the cheapest and most expensive generator) at which
    /// routing shares are reported, besides the unconstrained λ = 0.
    public static let shareBudgetFractions = [0.1, 0.25, 0.5, 0.75]

    /// Evaluates every estimator of `estimators` on `dataset`.
    ///
    /// - Parameters:
    ///   - features: one row per prompt of `dataset` (sentence embeddings); `nil` when no estimator reads them
    ///     (``EstimatorSpec/reads``).
    ///   - layerMeans: per encoder layer an estimator reads (``EstimatorInputs/layerMeans(_:)``), its mean-pooled
    ///     token states for every prompt, from the same pass as `features`.
    ///   - stratify: split each group (the dataset's prompt groups) separately.
    ///   - progress: called with short status lines (part and estimator being fitted).
    ///   - steps: called with (fits done, fits in all) before the first fit and after each one
    ///     (one fit per estimator and part), for a progress bar.
    ///   - encoder: the encoder the features come from; an estimator that fine-tunes it (the Transformer) does so
    ///     on each part's training prompts.
    ///   - memberSubsets: also report, for every fitted ensemble, each proper subset of its members averaged
    ///     alone (one fit serves them all: how much each partner adds).
    ///   - trainShare: fit on this share of each training part, drawn at random (per group when stratified; nested
    ///     across shares for one split seed), and test on the whole test part: a point of a learning curve.
    public static func run(
        dataset: RoutingDataset, features: Matrix?, layerMeans: [Int: Matrix] = [:], estimators: [EstimatorSpec],
        split: EvaluationSplit, trainShare: Double = 1,
        stratify: Bool = true, encoder: (any PromptEncoder)? = nil, memberSubsets: Bool = false,
        progress: (@Sendable (String) -> Void)? = nil, steps: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) throws -> EvaluationReport {
        if let features, features.rows != dataset.promptCount {
            throw EstimatorError("\(features.rows) feature rows for \(dataset.promptCount) prompts")
        }
        for (layer, means) in layerMeans where means.rows != dataset.promptCount {
            throw EstimatorError("\(means.rows) rows of layer \(layer) for \(dataset.promptCount) prompts")
        }
        guard !estimators.isEmpty else { throw EstimatorError("no estimator to evaluate") }
        let groups: [String?]? =
            stratify && dataset.prompts.contains { $0.group != nil } ? dataset.prompts.map(\.group) : nil
        var parts: [(train: [Int], test: [Int], seed: UInt64)] = []
        var protocolInfo: EvaluationReport.ProtocolInfo
        switch split {
        case .folds(let k, let seed):
            guard k >= 2, k <= dataset.promptCount else {
                throw EstimatorError("the number of folds must be between 2 and \(dataset.promptCount), got \(k)")
            }
            for test in DataSplit.kFold(count: dataset.promptCount, folds: k, seed: seed, groups: groups) {
                parts.append((DataSplit.complement(of: test, count: dataset.promptCount), test, seed))
            }
            protocolInfo = .init(kind: "folds", folds: k, testFraction: nil, seeds: [seed])
        case .trainTest(let fraction, let seeds):
            guard fraction > 0, fraction < 1 else {
                throw EstimatorError("the test fraction must be in (0, 1), got \(fraction)")
            }
            for seed in seeds {
                let s = DataSplit.trainTest(
                    count: dataset.promptCount, testFraction: fraction, seed: seed, groups: groups)
                parts.append((s.train, s.test, seed))
            }
            protocolInfo = .init(kind: "split", folds: nil, testFraction: fraction, seeds: seeds)
        }
        guard trainShare > 0, trainShare <= 1 else {
            throw EstimatorError("the training share must be in (0, 1], got \(trainShare)")
        }
        if trainShare < 1 {
            protocolInfo.trainShare = trainShare
            for p in parts.indices {
                parts[p].train = DataSplit.share(
                    of: parts[p].train, fraction: trainShare, seed: parts[p].seed &+ UInt64(p) &* 0x9E37_79B9,
                    groups: groups)
            }
        }
        let qualityOnly = !dataset.hasCost
        let names = dataset.generatorNames
        let m = names.count
        var references: [ReferenceFigures] = []
        var perEstimator: [[PartResult]] = []
        steps?(0, parts.count * estimators.count)
        for (p, part) in parts.enumerated() {
            let quality = dataset.qualityRows(part.test)
            let cost = dataset.costRows(part.test)
            let reference = ReferenceFigures(generators: names, quality: quality, cost: cost)
            references.append(reference)
            let trainCosts = dataset.costRows(part.train)
            let ruleCost = trainCosts.columnMeans(width: m)
            let input = EstimatorInput(
                texts: dataset.prompts.map(\.text), features: features, layerMeans: layerMeans)
            let training = TrainingSet(
                input: input.subset(part.train), targets: dataset.qualityRows(part.train),
                costs: qualityOnly ? nil : trainCosts, encoder: encoder,
                auxiliaryQualities: dataset.auxiliaryQualityRows(part.train))
            let test = input.subset(part.test)
            var row = 0
            for (e, spec) in estimators.enumerated() {
                progress?("part \(p + 1)/\(parts.count): fitting \(spec) on \(part.train.count) prompts")
                let estimator = try spec.fit(training, seed: part.seed, progress: progress)
                // A fitted spec differs from the asked one when `auto` resolved it (or a fine-tune recorded its model).
                let resolved = estimator.spec.description
                var rows = [
                    (
                        name: resolved == spec.description ? resolved : "\(spec) → \(resolved)",
                        predicted: estimator.predict(test)
                    )
                ]
                if memberSubsets, let ensemble = estimator as? EnsembleEstimator {
                    rows += ensemble.memberSubsetPredictions(test).map { ($0.spec.description, $0.predicted) }
                }
                for (name, predicted) in rows {
                    if perEstimator.count <= row { perEstimator.append([]) }
                    perEstimator[row].append(
                        evaluatePart(
                            name: name, predicted: predicted, ruleCost: ruleCost, quality: quality, cost: cost,
                            reference: reference, qualityOnly: qualityOnly,
                            prompts: part.test.map { dataset.prompts[$0].text }, generators: names))
                    row += 1
                }
                steps?(p * estimators.count + e + 1, parts.count * estimators.count)
            }
        }
        let summaries = perEstimator.map { summarize($0, references: references) }
        let first = summaries[0]
        let folds = parts.indices.map { p in
            EvaluationReport.Fold(
                index: p, seed: parts[p].seed, trainCount: parts[p].train.count, testCount: parts[p].test.count,
                bestSingle: references[p].bestSingle,
                oracle: .init(
                    area: qualityOnly ? nil : references[p].oracleArea, maxQuality: references[p].oracleMaxQuality),
                zeroRouter: .init(area: qualityOnly ? nil : references[p].zeroRouterArea),
                router: first.folds[p], generators: references[p].singles)
        }
        let generatorMeans = names.indices.map { g in
            SingleGeneratorPoint(
                generator: names[g], quality: mean(references.map { $0.singles[g].quality }),
                cost: mean(references.map { $0.singles[g].cost }))
        }
        let bestName = mostCommon(references.map(\.bestSingle.generator))
        let bestSingle = SingleGeneratorPoint(
            generator: bestName, quality: mean(references.map(\.bestSingle.quality)),
            cost: mean(references.map(\.bestSingle.cost)))
        return EvaluationReport(
            dataset: .init(
                source: dataset.source, metric: dataset.metric, costUnit: dataset.costUnit,
                prompts: dataset.promptCount, generators: names),
            mode: qualityOnly ? "quality-only" : "cost", protocol: protocolInfo, generators: generatorMeans,
            bestSingle: bestSingle,
            oracle: .init(
                area: qualityOnly ? nil : mean(references.map(\.oracleArea)),
                maxQuality: mean(references.map(\.oracleMaxQuality))),
            zeroRouter: .init(area: qualityOnly ? nil : mean(references.map(\.zeroRouterArea))),
            router: first.router, curve: first.curve, folds: folds, std: first.std, shares: first.shares,
            routers: summaries,
            oracleCurve: DeferralCurve.thinned(references[0].oracleCurve, limit: 400),
            zeroRouterCurve: references[0].zeroRouterCurve)
    }

    /// One estimator on one part.
    struct PartResult {
        var figures: RouterFigures
        var curve: [CurvePoint]
        var shares: [EvaluationReport.BudgetShare]
        var examples: [String: [String]]
        var reference: ReferenceFigures
    }

    static func evaluatePart(
        name: String, predicted: [[Double]], ruleCost: [Double], quality: [[Double]], cost: [[Double]],
        reference: ReferenceFigures, qualityOnly: Bool, prompts: [String], generators: [String]
    ) -> PartResult {
        let ruleCosts = [[Double]](repeating: ruleCost, count: predicted.count)
        let curve = DeferralCurve.sweep(predicted: predicted, ruleCosts: ruleCosts, quality: quality, cost: cost)
        let atZero = DeferralCurve.choices(predicted: predicted, ruleCosts: ruleCosts, lambda: 0)
        let qualityAtZero = mean(atZero.indices.map { quality[$0][atZero[$0]] })
        let figures = RouterFigures(
            estimator: name, curve: qualityOnly ? [] : curve, qualityAtZero: qualityAtZero, reference: reference,
            qualityOnly: qualityOnly)
        func share(budget: Double?, point: CurvePoint) -> (EvaluationReport.BudgetShare, [Int]) {
            let lambda = point.lambda ?? 0
            let choices = DeferralCurve.choices(predicted: predicted, ruleCosts: ruleCosts, lambda: lambda)
            var counts = [Int](repeating: 0, count: generators.count)
            for c in choices { counts[c] += 1 }
            let shares = Dictionary(
                uniqueKeysWithValues: generators.indices.map {
                    (generators[$0], Double(counts[$0]) / Double(max(1, choices.count)))
                })
            return (
                .init(budget: budget, lambda: lambda, cost: point.cost, quality: point.quality, shares: shares), choices
            )
        }
        var shares = [share(budget: nil, point: curve[0])]
        if !qualityOnly {
            let range = reference.costRange
            for fraction in shareBudgetFractions {
                let budget = range.lowerBound + fraction * (range.upperBound - range.lowerBound)
                let within = curve.filter { $0.cost <= budget }
                let point = within.max { $0.quality < $1.quality } ?? curve.min { $0.cost < $1.cost }!
                shares.append(share(budget: budget, point: point))
            }
        }
        let exampleChoices = shares[qualityOnly ? 0 : min(3, shares.count - 1)].1
        var examples: [String: [String]] = [:]
        for (i, choice) in exampleChoices.enumerated() where examples[generators[choice], default: []].count < 5 {
            examples[generators[choice], default: []].append(prompts[i])
        }
        return PartResult(
            figures: figures, curve: curve, shares: shares.map(\.0), examples: examples, reference: reference)
    }

    static func summarize(_ parts: [PartResult], references: [ReferenceFigures]) -> EvaluationReport.RouterSummary {
        let figures = parts.map(\.figures)
        let meanFigures = RouterFigures(
            estimator: figures[0].estimator, area: optionalMean(figures.map(\.area)),
            gapRecovered: optionalMean(figures.map(\.gapRecovered)), qualityGain: mean(figures.map(\.qualityGain)),
            costSaving: optionalMean(figures.map(\.costSaving)), maxQuality: mean(figures.map(\.maxQuality)),
            apgr: optionalMean(figures.map(\.apgr)), aiq: optionalMean(figures.map(\.aiq)),
            oracleGainShare: optionalMean(figures.map(\.oracleGainShare)))
        let qualityOnly = figures[0].area == nil
        let spread = EvaluationReport.Spread(
            area: deviation(figures.map(\.area)), gapRecovered: deviation(figures.map(\.gapRecovered)),
            qualityGain: deviation(figures.map(\.qualityGain)), costSaving: deviation(figures.map(\.costSaving)),
            maxQuality: deviation(figures.map(\.maxQuality)), apgr: deviation(figures.map(\.apgr)),
            aiq: deviation(figures.map(\.aiq)), oracleGainShare: deviation(figures.map(\.oracleGainShare)),
            oracleArea: qualityOnly ? nil : deviation(references.map(\.oracleArea)),
            zeroRouterArea: qualityOnly ? nil : deviation(references.map(\.zeroRouterArea)),
            bestSingleQuality: deviation(references.map(\.bestSingle.quality)))
        return .init(
            router: meanFigures, std: spread, curve: DeferralCurve.thinned(parts[0].curve, limit: 400),
            folds: figures, shares: parts[0].shares, examples: parts[0].examples,
            costSavingReached: figures.filter { $0.costSaving != nil }.count)
    }

    static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    static func optionalMean(_ values: [Double?]) -> Double? {
        let present = values.compactMap { $0 }
        return present.isEmpty ? nil : mean(present)
    }

    /// Sample standard deviation (n − 1) of the present values; 0 for one value, `nil` for none.
    static func deviation(_ values: [Double?]) -> Double? {
        let present = values.compactMap { $0 }
        guard !present.isEmpty else { return nil }
        guard present.count > 1 else { return 0 }
        let mu = mean(present)
        return (present.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(present.count - 1)).squareRoot()
    }

    static func mostCommon(_ names: [String]) -> String {
        var counts: [String: Int] = [:]
        for name in names { counts[name, default: 0] += 1 }
        return names.max { counts[$0]! < counts[$1]! } ?? ""
    }
}
