import CATImageCore
import CATImageEncoder
import CATImageTraining

/// Hyper-parameters of the Transformer quality estimator (MiniLM fine-tuned with a multi-output head) and, once
/// fitted, the fitted model's shape: the ``EstimatorSpec/transformer(_:)`` case's value.
public struct TransformerOptions: Sendable, Equatable, Codable {
    /// What the head learns: absolute or relative (quality minus the prompt's mean) standardized qualities.
    public var target: TargetKind
    /// How to fine-tune (epochs, learning rates, max tokens, validation share, ...).
    public var fineTune: FineTuneOptions
    /// The fitted model's configuration; set by fitting, and what restoring it from a router file needs.
    public var model: ModelConfiguration?

    /// Options for a fit (no model yet).
    public init(
        target: TargetKind = .relative, fineTune: FineTuneOptions = FineTuneOptions(),
        model: ModelConfiguration? = nil
    ) {
        self.target = target
        self.fineTune = fineTune
        self.model = model
    }

    /// The fitted model's shapes, target kind and longest input, as a router file stores them.
    public struct ModelConfiguration: Sendable, Equatable, Codable {
        /// The encoder's shape.
        public var encoder: MiniLM.Configuration
        /// The head's shape.
        public var head: RegressionHeadConfig
        /// What the head predicts.
        public var target: TargetKind
        /// Longest input in tokens.
        public var maxTokens: Int
        /// Ridge α of a partner stored inside the model: only router files of format version 1 have one.
        public var ridgeAlpha: Double?
        /// Kernel τ of a partner stored inside the model: only router files of format version 1 have one.
        public var kernelTau: Double?

        /// A configuration from its parts.
        public init(encoder: MiniLM.Configuration, head: RegressionHeadConfig, target: TargetKind, maxTokens: Int) {
            self.encoder = encoder
            self.head = head
            self.target = target
            self.maxTokens = maxTokens
        }

        /// The fine-tuning engine's part of it.
        var fineTuned: FineTunedModel.Configuration {
            FineTunedModel.Configuration(encoder: encoder, head: head, maxTokens: maxTokens)
        }
    }

    enum CodingKeys: String, CodingKey {
        case target, fineTune, model
    }

    // Format version 1 kept the target kind inside `fineTune` and `model` only: fall back to the model's.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        fineTune = try container.decode(FineTuneOptions.self, forKey: .fineTune)
        model = try container.decodeIfPresent(ModelConfiguration.self, forKey: .model)
        target = try container.decodeIfPresent(TargetKind.self, forKey: .target) ?? model?.target ?? .relative
    }
}
