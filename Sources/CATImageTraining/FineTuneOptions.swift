/// Hyper-parameters of a fine-tuning run. Defaults are the reference run's (batch 32, encoder lr 3e-5, head lr
/// 1e-3, at most 128 tokens, 4 epochs).
public struct FineTuneOptions: Sendable, Equatable, Codable {
    /// Passes over the training prompts.
    public var epochs: Int
    /// Prompts per optimizer step.
    public var batchSize: Int
    /// Longest input in tokens, `[CLS]` and `[SEP]` included.
    public var maxTokens: Int
    /// AdamW settings and schedule.
    public var optimizer: AdamW.Settings
    /// Largest global gradient norm (gradients are scaled down above it); 0 disables clipping.
    public var gradientClipNorm: Double
    /// Seed of everything random: validation split, order, dropout, head initialisation.
    public var seed: UInt64
    /// Share of the training prompts held out for early stopping.
    public var validationFraction: Double
    /// How often per epoch the validation objective is measured (the best weights are kept).
    public var evaluationsPerEpoch: Int
    /// Stop after this many evaluations without improvement (`nil`: run every epoch, keep the best).
    public var patience: Int?
    /// Worker threads a batch is split across (one BLAS thread each).
    public var workers: Int
    /// Width of the head's hidden GELU layer, 0 for a linear head.
    public var headHiddenSize: Int
    /// Whether the pooled vector is L2-normalised before the head.
    public var normalizesEmbedding: Bool
    /// Dropout probability on hidden states and attention (`nil`: the model's `config.json`).
    public var dropout: Double?
    /// Stop after this many steps (benchmarks, tests); `nil` runs every epoch.
    public var maxSteps: Int?
    /// Train for the routing decision too (``DecisionLoss``), beside the squared error; `nil`: squared error only.
    public var decision: DecisionOptions?
    /// Weight of the examples' auxiliary targets (``FineTuneExample/auxiliary``: other metrics of the same prompts,
    /// learnt by extra head outputs that the fitted model drops) in the squared error, beside the primary targets'
    /// weight 1; `nil`: no auxiliary outputs (multi-task training off).
    public var auxiliaryWeight: Double?

    /// Options; see each property.
    public init(
        epochs: Int = 4, batchSize: Int = 32, maxTokens: Int = 128,
        optimizer: AdamW.Settings = AdamW.Settings(), gradientClipNorm: Double = 1, seed: UInt64 = 0,
        validationFraction: Double = 0.1, evaluationsPerEpoch: Int = 2, patience: Int? = nil, workers: Int = 2,
        headHiddenSize: Int = 0, normalizesEmbedding: Bool = false, dropout: Double? = nil, maxSteps: Int? = nil,
        decision: DecisionOptions? = nil, auxiliaryWeight: Double? = nil
    ) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.maxTokens = maxTokens
        self.optimizer = optimizer
        self.gradientClipNorm = gradientClipNorm
        self.seed = seed
        self.validationFraction = validationFraction
        self.evaluationsPerEpoch = evaluationsPerEpoch
        self.patience = patience
        self.workers = workers
        self.headHiddenSize = headHiddenSize
        self.normalizesEmbedding = normalizesEmbedding
        self.dropout = dropout
        self.maxSteps = maxSteps
        self.decision = decision
        self.auxiliaryWeight = auxiliaryWeight
    }

    /// Checks ranges; the message names the option.
    public func validate() throws(FineTuneError) {
        guard epochs >= 1 else { throw FineTuneError("epochs must be at least 1, got \(epochs)") }
        guard batchSize >= 1 else { throw FineTuneError("batch size must be at least 1, got \(batchSize)") }
        guard maxTokens >= 2 else { throw FineTuneError("max tokens must be at least 2, got \(maxTokens)") }
        guard validationFraction > 0 && validationFraction < 1 else {
            throw FineTuneError("validation fraction must be in (0, 1), got \(validationFraction)")
        }
        guard workers >= 1 else { throw FineTuneError("workers must be at least 1, got \(workers)") }
        guard evaluationsPerEpoch >= 1 else { throw FineTuneError("evaluations per epoch must be at least 1") }
        guard gradientClipNorm >= 0 else { throw FineTuneError("gradient clip norm must be ≥ 0") }
        if let dropout, !(0..<1).contains(dropout) { throw FineTuneError("dropout must be in [0, 1), got \(dropout)") }
        if let maxSteps, maxSteps < 1 { throw FineTuneError("max steps must be at least 1, got \(maxSteps)") }
        try decision?.validate()
        if let auxiliaryWeight, !(auxiliaryWeight > 0 && auxiliaryWeight.isFinite) {
            throw FineTuneError("the auxiliary targets' weight must be positive, got \(auxiliaryWeight)")
        }
    }
}
