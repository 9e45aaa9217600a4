import CATImageCore
import CATImageEncoder

/// Trains a ``Router`` from a dataset and its prompts' features.
public enum RouterTrainer {
    /// How the default λ is chosen.
    public enum LambdaRequest: Sendable, Equatable {
        /// Use this λ.
        case fixed(Double)
        /// The λ whose held-out mean cost meets this budget.
        case budget(Double)
        /// The cheapest λ whose held-out mean quality reaches this target.
        case targetQuality(Double)
    }

    /// Why training failed.
    public struct TrainingError: Error, Sendable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Fits the estimator on all of `dataset` and builds the calibration table from out-of-fold predictions.
    ///
    /// `.auto` is resolved once on all the data; the resolved estimator is then cross-fitted on
    /// `calibrationFolds` folds so that every training prompt gets a prediction from a model that did not
    /// see it, and the λ-sweep of those predictions (with realised per-prompt costs) is the calibration table.
    /// `steps` receives (fits done, fits in all) before the first fit and after each one, for a progress bar.
    ///
    /// `.transformer` goes to ``trainTransformer(dataset:encoder:options:lambda:seed:progress:steps:)`` (which
    /// ignores `features` and `calibrationFolds`).
    public static func train(
        dataset: RoutingDataset, features: Matrix, encoder: any PromptEncoder, estimator spec: EstimatorSpec,
        lambda request: LambdaRequest = .fixed(0), calibrationFolds: Int = 5, seed: UInt64 = 0,
        progress: (@Sendable (String) -> Void)? = nil, steps: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) throws -> Router {
        if case .transformer(let options) = spec {
            guard let sentenceEncoder = encoder as? SentenceEncoder else {
                throw TrainingError(message: "the transformer estimator fine-tunes the MiniLM sentence encoder only")
            }
            return try trainTransformer(
                dataset: dataset, encoder: sentenceEncoder, options: options, lambda: request, seed: seed,
                progress: progress, steps: steps)
        }
        guard features.rows == dataset.promptCount else {
            throw TrainingError(message: "\(features.rows) feature rows for \(dataset.promptCount) prompts")
        }
        let m = dataset.generatorCount
        let costs = dataset.costRows()
        let quality = dataset.qualityRows()
        let data = TrainingSet(features: features, targets: quality, costs: dataset.hasCost ? costs : nil)
        let calibrating = calibrationFolds >= 2 && dataset.promptCount >= 2 * calibrationFolds
        let fits = 1 + (calibrating ? calibrationFolds : 0)
        steps?(0, fits)
        progress?("fitting \(spec) on \(dataset.promptCount) prompts")
        let estimator = try spec.fit(data, seed: seed, progress: progress)
        steps?(1, fits)
        let ruleCost = costs.columnMeans(width: m)
        var calibration: [CalibrationPoint] = []
        if calibrating {
            var outOfFold = [[Double]](repeating: [], count: dataset.promptCount)
            for (f, held) in DataSplit.kFold(count: dataset.promptCount, folds: calibrationFolds, seed: seed)
                .enumerated()
            {
                progress?("calibration fold \(f + 1)/\(calibrationFolds)")
                let fitted = try estimator.spec.fit(
                    data.subset(DataSplit.complement(of: held, count: dataset.promptCount)), seed: seed)
                for (i, prediction) in zip(held, fitted.predict(features.rows(at: held))) { outOfFold[i] = prediction }
                steps?(f + 2, fits)
            }
            let curve = DeferralCurve.sweep(
                predicted: outOfFold, ruleCosts: [[Double]](repeating: ruleCost, count: outOfFold.count),
                quality: quality, cost: costs)
            calibration = Calibration.table(from: curve)
        }
        return try assemble(
            dataset: dataset, encoder: encoder, estimator: estimator, ruleCost: ruleCost, calibration: calibration,
            request: request)
    }

    /// The router of a fitted estimator: `request`'s λ policy solved on `calibration`, and the generators with the
    /// rule's costs (`ruleCost`, the mean cost over the training prompts; none when the data has no cost).
    static func assemble(
        dataset: RoutingDataset, encoder: any PromptEncoder, estimator: any QualityEstimator, ruleCost: [Double],
        calibration: [CalibrationPoint], request: LambdaRequest
    ) throws -> Router {
        let policy = try lambdaPolicy(request, calibration: calibration, hasCost: dataset.hasCost)
        var generators = dataset.generators
        for g in generators.indices { generators[g].cost = dataset.hasCost ? ruleCost[g] : nil }
        return Router(
            encoder: encoder, generators: generators, estimator: estimator, lambdaPolicy: policy,
            calibration: calibration, metric: dataset.metric, costUnit: dataset.costUnit)
    }

    /// The default-λ policy `request` asks for, solved on `calibration`.
    static func lambdaPolicy(
        _ request: LambdaRequest, calibration: [CalibrationPoint], hasCost: Bool
    ) throws -> LambdaPolicy {
        let policy: LambdaPolicy
        switch request {
        case .fixed(let lambda):
            guard lambda >= 0, lambda.isFinite else { throw TrainingError(message: "λ must be ≥ 0, got \(lambda)") }
            policy = .fixed(lambda: lambda)
        case .budget(let budget):
            guard hasCost else { throw TrainingError(message: "--budget needs a dataset with costs") }
            guard let lambda = Calibration.lambda(forBudget: budget, in: calibration) else {
                let floor = calibration.map(\.cost).min().map { String($0) } ?? "unknown"
                throw TrainingError(message: "budget \(budget) is below the cheapest routing's mean cost (\(floor))")
            }
            policy = .budget(budget: budget, lambda: lambda)
        case .targetQuality(let target):
            guard let lambda = Calibration.lambda(forQuality: target, in: calibration) else {
                let best = calibration.map(\.quality).max().map { String($0) } ?? "unknown"
                throw TrainingError(message: "target quality \(target) is above the best held-out quality (\(best))")
            }
            policy = .targetQuality(target: target, lambda: lambda)
        }
        return policy
    }
}
