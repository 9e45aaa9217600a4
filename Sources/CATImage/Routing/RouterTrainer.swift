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
        /// The class of problem; stable for tests and tools, which map it to their own option names.
        public enum Code: String, Sendable, Equatable {
            /// The features do not have one row per prompt.
            case mismatchedFeatures
            /// A fixed λ that is negative or not finite.
            case invalidLambda
            /// A budget asked of a dataset without costs.
            case budgetWithoutCosts
            /// A budget below the cheapest routing's mean cost.
            case budgetTooLow
            /// A target quality above the best held-out quality.
            case targetQualityTooHigh
        }

        /// The class of problem.
        public let code: Code
        /// The λ, budget or target quality asked for, when the problem is about one.
        public let value: Double?
        /// What went wrong, in words a person can act on.
        public let message: String

        public init(_ code: Code, value: Double? = nil, _ message: String) {
            self.code = code
            self.value = value
            self.message = message
        }

        public var description: String { message }
    }

    /// Fits the estimator on all of `dataset` and builds the calibration table from held-out predictions.
    ///
    /// `.auto` is resolved once on all the data; the resolved estimator is then cross-fitted on
    /// `calibrationFolds` folds so that every training prompt gets a prediction from a model that did not
    /// see it, and the λ-sweep of those predictions (with realised per-prompt costs) is the calibration table.
    /// An estimator that sets prompts aside while fitting (``EstimatorSpec/heldOutIndices(count:seed:)``: the
    /// Transformer's early-stopping prompts) is calibrated on its predictions there instead: neither it nor its
    /// partners trained on them, and cross-fitting would cost a fine-tune per fold.
    ///
    /// `features` are the prompts' frozen features (`nil` when the estimator does not read them,
    /// ``EstimatorSpec/reads``), `layerMeans` the means of the encoder layers it reads from the same pass;
    /// `encoder` is the encoder they come from. `steps` receives (fits done, fits in
    /// all) before the first fit and after each one, or a fine-tune's optimizer steps, for a progress bar.
    public static func train(
        dataset: RoutingDataset, features: Matrix?, layerMeans: [Int: Matrix] = [:], encoder: any PromptEncoder,
        estimator spec: EstimatorSpec, lambda request: LambdaRequest = .fixed(0), calibrationFolds: Int = 5,
        seed: UInt64 = 0,
        progress: (@Sendable (String) -> Void)? = nil, steps: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) throws -> Router {
        if let features, features.rows != dataset.promptCount {
            throw TrainingError(
                .mismatchedFeatures, "\(features.rows) feature rows for \(dataset.promptCount) prompts")
        }
        for (layer, means) in layerMeans where means.rows != dataset.promptCount {
            throw TrainingError(
                .mismatchedFeatures, "\(means.rows) rows of layer \(layer) for \(dataset.promptCount) prompts")
        }
        let m = dataset.generatorCount
        let costs = dataset.costRows()
        let quality = dataset.qualityRows()
        let data = TrainingSet(
            input: EstimatorInput(texts: dataset.prompts.map(\.text), features: features, layerMeans: layerMeans),
            targets: quality,
            costs: dataset.hasCost ? costs : nil, encoder: encoder, auxiliaryQualities: dataset.auxiliaryQualityRows())
        let declared = spec.heldOutIndices(count: dataset.promptCount, seed: seed)
        let mayCrossFit = declared == nil && calibrationFolds >= 2 && dataset.promptCount >= 2 * calibrationFolds
        let fits = 1 + (mayCrossFit ? calibrationFolds : 0)
        // A fine-tune reports its own optimizer steps; otherwise the bar counts fits.
        let fitSteps = declared == nil ? steps : nil
        fitSteps?(0, fits)
        progress?("fitting \(spec) on \(dataset.promptCount) prompts")
        let estimator = try spec.fit(data, seed: seed, progress: progress, steps: declared == nil ? nil : steps)
        // `auto` may resolve to an estimator that held prompts out (the fine-tuned candidate): calibrate on those.
        let held = declared ?? estimator.spec.heldOutIndices(count: dataset.promptCount, seed: seed)
        let crossFitting = held == nil && mayCrossFit
        fitSteps?(crossFitting ? 1 : fits, fits)
        let ruleCost = costs.columnMeans(width: m)
        // The λ-sweep of held-out predictions of the prompts at `rows`, with their realised costs.
        func table(_ predicted: [[Double]], rows: [Int]) -> [CalibrationPoint] {
            Calibration.table(
                from: DeferralCurve.sweep(
                    predicted: predicted, ruleCosts: [[Double]](repeating: ruleCost, count: rows.count),
                    quality: rows.map { quality[$0] }, cost: rows.map { costs[$0] }))
        }
        var calibration: [CalibrationPoint] = []
        if let held {
            progress?(
                "calibrating λ on \(held.count) held-out prompts (fitted on \(dataset.promptCount - held.count))")
            calibration = table(estimator.predict(data.input.subset(held)), rows: held)
        } else if crossFitting {
            var outOfFold = [[Double]](repeating: [], count: dataset.promptCount)
            for (f, held) in DataSplit.kFold(count: dataset.promptCount, folds: calibrationFolds, seed: seed)
                .enumerated()
            {
                progress?("calibration fold \(f + 1)/\(calibrationFolds)")
                let fitted = try estimator.spec.fit(
                    data.subset(DataSplit.complement(of: held, count: dataset.promptCount)), seed: seed)
                for (i, prediction) in zip(held, fitted.predict(data.input.subset(held))) { outOfFold[i] = prediction }
                fitSteps?(f + 2, fits)
            }
            calibration = table(outOfFold, rows: Array(0..<dataset.promptCount))
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
            guard lambda >= 0, lambda.isFinite else {
                throw TrainingError(.invalidLambda, value: lambda, "λ must be ≥ 0, got \(lambda)")
            }
            policy = .fixed(lambda: lambda)
        case .budget(let budget):
            guard hasCost else {
                throw TrainingError(.budgetWithoutCosts, value: budget, "a budget needs a dataset with costs")
            }
            guard let lambda = Calibration.lambda(forBudget: budget, in: calibration) else {
                let floor = calibration.map(\.cost).min().map { String($0) } ?? "unknown"
                throw TrainingError(
                    .budgetTooLow, value: budget,
                    "budget \(budget) is below the cheapest routing's mean cost (\(floor))")
            }
            policy = .budget(budget: budget, lambda: lambda)
        case .targetQuality(let target):
            guard let lambda = Calibration.lambda(forQuality: target, in: calibration) else {
                let best = calibration.map(\.quality).max().map { String($0) } ?? "unknown"
                throw TrainingError(
                    .targetQualityTooHigh, value: target,
                    "target quality \(target) is above the best held-out quality (\(best))")
            }
            policy = .targetQuality(target: target, lambda: lambda)
        }
        return policy
    }
}
