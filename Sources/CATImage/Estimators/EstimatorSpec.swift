import CATImageTraining

/// What estimator to fit, with its hyper-parameters: the serialisable recipe of a ``QualityEstimator``.
///
/// Encoded in router files as JSON (`{"knn":{"k":50,"weighted":false}}`), so a case's associated values are
/// part of the file format: add cases, never rename them.
public indirect enum EstimatorSpec: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The per-generator mean of the training targets: ignores the prompt (the baseline).
    case mean
    /// Mean target of the `k` most cosine-similar training prompts; `weighted` weighs each neighbour by its
    /// (non-negative) similarity.
    case knn(k: Int, weighted: Bool)
    /// Every training prompt weighted by `exp(cos/τ)`: a soft kNN whose width is `tau`.
    case kernel(tau: Double)
    /// Multi-output ridge regression on centred features and standardized targets, penalty `alpha`.
    case ridge(alpha: Double)
    /// A small multi-layer perceptron on standardized targets.
    case mlp(MLPOptions)
    /// The average of the members' predictions.
    case ensemble([EstimatorSpec])
    /// Chooses among candidate estimators by cross-validation on the routing objective; falls back to `.mean`.
    case auto(AutoOptions)
    /// MiniLM fine-tuned end to end with a multi-output head (the paper's Transformer estimator). It trains on
    /// prompts, not on frozen features: ``RouterTrainer`` fits it (``fit(_:seed:progress:)`` refuses).
    case transformer(TransformerOptions)

    public var description: String {
        switch self {
        case .mean: return "mean"
        case .knn(let k, let weighted): return weighted ? "knn(k=\(k),weighted)" : "knn(k=\(k))"
        case .kernel(let tau): return "kernel(tau=\(Self.short(tau)))"
        case .ridge(let alpha): return "ridge(alpha=\(Self.short(alpha)))"
        case .mlp(let options): return "mlp(\(options.hidden.map(String.init).joined(separator: "x")))"
        case .ensemble(let members): return members.map(\.description).joined(separator: "+")
        case .auto: return "auto"
        case .transformer(let options): return "transformer(\(Self.describe(options.fineTune)))"
        }
    }

    static func describe(_ options: FineTuneOptions) -> String {
        var parts = [options.target.rawValue, "epochs=\(options.epochs)"]
        if let alpha = options.ensembleRidgeAlpha { parts.append("ridge=\(short(alpha))") }
        if let tau = options.ensembleKernelTau { parts.append("kernel=\(short(tau))") }
        return parts.joined(separator: ",")
    }

    /// The kind name used on the command line and in reports (`knn`, `kernel`, `ridge`, ...).
    public var kind: String {
        switch self {
        case .mean: return "mean"
        case .knn: return "knn"
        case .kernel: return "kernel"
        case .ridge: return "ridge"
        case .mlp: return "mlp"
        case .ensemble: return "ensemble"
        case .auto: return "auto"
        case .transformer: return "transformer"
        }
    }

    static func short(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e9 ? String(Int(value)) : String(value)
    }

    /// Fits the estimator on `data`; `seed` drives every random choice (MLP initialisation, CV folds).
    public func fit(
        _ data: TrainingSet, seed: UInt64 = 0, progress: (@Sendable (String) -> Void)? = nil
    ) throws -> any QualityEstimator {
        guard data.count > 0, data.outputCount > 0 else {
            throw EstimatorError("cannot fit \(self) on \(data.count) examples of \(data.outputCount) outputs")
        }
        switch self {
        case .mean:
            return MeanEstimator(data)
        case .knn(let k, let weighted):
            guard k >= 1 else { throw EstimatorError("knn needs k >= 1, got \(k)") }
            return NeighborEstimator(data, spec: .knn(k: min(k, data.count), weighted: weighted))
        case .kernel(let tau):
            guard tau > 0, tau.isFinite else { throw EstimatorError("kernel needs tau > 0, got \(tau)") }
            return NeighborEstimator(data, spec: self)
        case .ridge(let alpha):
            guard alpha >= 0, alpha.isFinite else { throw EstimatorError("ridge needs alpha >= 0, got \(alpha)") }
            return try RidgeEstimator(data, alpha: alpha)
        case .mlp(let options):
            return try MLPEstimator(data, options: options, seed: seed)
        case .ensemble(let members):
            guard !members.isEmpty else { throw EstimatorError("an ensemble needs at least one member") }
            let fitted = try members.enumerated().map { index, member in
                try member.fit(data, seed: seed &+ UInt64(index), progress: progress)
            }
            return EnsembleEstimator(members: fitted)
        case .auto(let options):
            return try AutoSelection.fit(data, options: options, seed: seed, progress: progress)
        case .transformer:
            throw EstimatorError(
                "the transformer estimator fine-tunes the encoder on prompts, not on fixed features: train it with "
                    + "`catimage train --estimator transformer` (it cannot be an ensemble member; use its ridge= and "
                    + "kernel= options to average with partners)")
        }
    }

    /// Restores a fitted estimator from its arrays (the inverse of ``QualityEstimator/tensors()``).
    public func restore(_ tensors: [String: EstimatorTensor]) throws -> any QualityEstimator {
        func tensor(_ name: String) throws -> EstimatorTensor {
            guard let value = tensors[name] else { throw EstimatorError("estimator \(self) lacks tensor '\(name)'") }
            return value
        }
        switch self {
        case .mean:
            return MeanEstimator(means: try tensor("mean").values.map { Double($0) })
        case .knn, .kernel:
            let features = try tensor("features")
            let targets = try tensor("targets")
            guard features.shape.count == 2, targets.shape.count == 2, features.shape[0] == targets.shape[0] else {
                throw EstimatorError("neighbour tensors disagree: features \(features.shape), targets \(targets.shape)")
            }
            return NeighborEstimator(spec: self, features: features.matrix, targets: targets.matrix)
        case .ridge:
            return try RidgeEstimator(spec: self, tensors: tensors)
        case .mlp(let options):
            return try MLPEstimator(options: options, tensors: tensors)
        case .ensemble(let members):
            let restored = try members.enumerated().map { index, member in
                try member.restore(Self.members(of: tensors, index: index))
            }
            return EnsembleEstimator(members: restored)
        case .auto:
            throw EstimatorError("a stored estimator must be resolved, not 'auto'")
        case .transformer(let options):
            return try FineTunedFeatureEstimator(tensors: tensors, options: options)
        }
    }

    /// The tensors of ensemble member `index` (stored under the prefix `member<index>.`).
    static func members(of tensors: [String: EstimatorTensor], index: Int) -> [String: EstimatorTensor] {
        let prefix = "member\(index)."
        var result: [String: EstimatorTensor] = [:]
        for (name, value) in tensors where name.hasPrefix(prefix) {
            result[String(name.dropFirst(prefix.count))] = value
        }
        return result
    }
}

/// Hyper-parameters of the MLP estimator.
public struct MLPOptions: Sendable, Equatable, Codable {
    /// Hidden layer widths (one or two layers).
    public var hidden: [Int]
    /// Adam learning rate.
    public var learningRate: Double
    /// L2 penalty on the weights (decoupled weight decay).
    public var weightDecay: Double
    /// Mini-batch size.
    public var batchSize: Int
    /// Maximum number of passes over the training part.
    public var maxEpochs: Int
    /// Stop after this many epochs without a better validation loss.
    public var patience: Int
    /// Share of the training data held out for early stopping.
    public var validationFraction: Double

    public init(
        hidden: [Int] = [256], learningRate: Double = 1e-3, weightDecay: Double = 1e-4, batchSize: Int = 128,
        maxEpochs: Int = 100, patience: Int = 8, validationFraction: Double = 0.1
    ) {
        self.hidden = hidden
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.batchSize = batchSize
        self.maxEpochs = maxEpochs
        self.patience = patience
        self.validationFraction = validationFraction
    }
}

/// Options of the automatic estimator choice.
public struct AutoOptions: Sendable, Equatable, Codable {
    /// Inner cross-validation folds.
    public var folds: Int
    /// Candidates tried (the mean baseline is always added).
    public var candidates: [EstimatorSpec]
    /// A candidate must beat the mean baseline on every fold and on average by this many standard errors of
    /// the fold-wise difference.
    public var significance: Double

    public init(folds: Int = 5, candidates: [EstimatorSpec] = AutoOptions.defaultCandidates, significance: Double = 2) {
        self.folds = folds
        self.candidates = candidates
        self.significance = significance
    }

    /// kNN, kernel and ridge over a small grid, and the kernel+ridge ensemble.
    public static let defaultCandidates: [EstimatorSpec] = [
        .knn(k: 25, weighted: false), .knn(k: 50, weighted: false), .knn(k: 100, weighted: false),
        .knn(k: 200, weighted: false),
        .kernel(tau: 0.03), .kernel(tau: 0.05), .kernel(tau: 0.1), .kernel(tau: 0.2),
        .ridge(alpha: 1), .ridge(alpha: 10), .ridge(alpha: 100),
        .ensemble([.kernel(tau: 0.05), .ridge(alpha: 10)]), .ensemble([.kernel(tau: 0.1), .ridge(alpha: 10)]),
    ]
}
