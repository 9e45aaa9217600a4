import CATImageCore
import CATImageEncoder
import CATImageTraining

/// The prompt features of the Transformer quality estimator: the frozen sentence embedding `[D]` followed by
/// the fine-tuned model's standardized predictions `[M]`, so a router keeps its encoder → estimator pipeline.
///
/// Identity (``modelIdentifier``, ``weightsDigest``) is the frozen encoder's: a router file records which
/// pretrained encoder its fine-tuned weights and ridge partner start from.
public struct FineTunedPromptEncoder: PromptEncoder {
    /// The pretrained encoder (ridge partner's features, tokenizer).
    public let frozen: SentenceEncoder
    /// The fine-tuned encoder and head.
    public let fineTuned: FineTunedModel

    /// An encoder from its two parts.
    public init(frozen: SentenceEncoder, fineTuned: FineTunedModel) {
        precondition(
            frozen.dimension == fineTuned.model.layout.encoder.hiddenSize,
            "the fine-tuned model was not started from this encoder")
        self.frozen = frozen
        self.fineTuned = fineTuned
    }

    public var modelIdentifier: String { frozen.modelIdentifier }
    public var weightsDigest: String { frozen.weightsDigest }

    /// `[N, D + M]`: frozen embeddings, then fine-tuned standardized predictions.
    public func embed(_ prompts: [String]) -> Matrix {
        let d = frozen.dimension
        let m = fineTuned.outputCount
        let embeddings = frozen.encode(prompts)
        let tokens = prompts.map { frozen.tokenizer.encode($0, maxLength: fineTuned.maxTokens) }
        let predictions = fineTuned.predictTargets(tokens)
        var storage = [Float](repeating: 0, count: prompts.count * (d + m))
        for i in 0..<prompts.count {
            for j in 0..<d { storage[i * (d + m) + j] = embeddings.storage[i * d + j] }
            for j in 0..<m { storage[i * (d + m) + d + j] = Float(predictions[i][j]) }
        }
        return Matrix(rows: prompts.count, columns: d + m, storage: storage)
    }
}

/// Predicted qualities from ``FineTunedPromptEncoder`` features: the fine-tuned prediction, averaged with its
/// partners (ridge, kernel) on the frozen part when it has them, mapped back to quality units.
///
/// The shape of a ``QualityEstimator`` (`predict`, `outputCount`, `tensors`); conforming it needs an
/// `EstimatorSpec` case for the Transformer estimator.
public struct FineTunedFeatureEstimator: Sendable {
    /// The fitted model.
    public let fineTuned: FineTunedModel

    /// An estimator over `fineTuned`'s features.
    public init(fineTuned: FineTunedModel) { self.fineTuned = fineTuned }

    /// Number of generators.
    public var outputCount: Int { fineTuned.outputCount }

    /// Qualities `[N][M]` from features `[N, D + M]`.
    public func predict(_ features: Matrix) -> [[Double]] {
        let m = fineTuned.outputCount
        let d = features.columns - m
        precondition(d == fineTuned.model.layout.encoder.hiddenSize, "features \(features.shape) for \(m) outputs")
        var z = (0..<features.rows).map { i in (0..<m).map { Double(features[i, d + $0]) } }
        if fineTuned.needsFrozenEmbeddings {
            var frozen = [Float](repeating: 0, count: features.rows * d)
            for i in 0..<features.rows { for j in 0..<d { frozen[i * d + j] = features[i, j] } }
            z = fineTuned.ensembleTargets(z, frozenEmbeddings: frozen)
        }
        return z.map(fineTuned.scaler.quality(fromTarget:))
    }

    /// The router file's arrays: the model's tensors (encoder, head, target scaling, partners).
    public func tensors() -> [String: EstimatorTensor] {
        fineTuned.tensors().mapValues { EstimatorTensor(shape: $0.shape, values: $0.values) }
    }

    /// Restores from ``tensors()`` and the model's configuration (kept in the estimator's spec).
    public init(tensors: [String: EstimatorTensor], configuration: FineTunedModel.Configuration) throws {
        fineTuned = try FineTunedModel(
            tensors: tensors.mapValues { SafetensorsTensor(shape: $0.shape, values: $0.values) },
            configuration: configuration, source: "router file")
    }
}
