import CATImageCore
import CATImageEncoder
import CATImageTraining

/// Hyper-parameters of the Transformer quality estimator (MiniLM fine-tuned with a multi-output head) and, once
/// fitted, the fitted model's shape: the ``EstimatorSpec/transformer(_:)`` case's value.
public struct TransformerOptions: Sendable, Equatable, Codable {
    /// How to fine-tune (target, epochs, learning rates, ensemble partners, ...).
    public var fineTune: FineTuneOptions
    /// The fitted model's configuration; set by fitting, and what restoring it from a router file needs.
    public var model: FineTunedModel.Configuration?

    /// Options for a fit (no model yet).
    public init(fineTune: FineTuneOptions = FineTuneOptions(), model: FineTunedModel.Configuration? = nil) {
        self.fineTune = fineTune
        self.model = model
    }
}

/// The prompt features of the Transformer quality estimator: the frozen sentence embedding `[D]` followed by
/// the fine-tuned model's standardized predictions `[M]`, so a router keeps its encoder → estimator pipeline.
///
/// The fine-tuned encoder runs through the same inference code as the frozen one (``SentenceEncoder``, packed
/// tokens, OpenBLAS), so it costs what embedding a prompt costs; the frozen pass runs only when the model
/// averages in partners (ridge, kernel) on frozen embeddings, otherwise the frozen part of the row is zero.
///
/// Identity (``modelIdentifier``, ``weightsDigest``) is the frozen encoder's: a router file records which
/// pretrained encoder its fine-tuned weights and partners start from.
public struct FineTunedPromptEncoder: PromptEncoder {
    /// The pretrained encoder (partners' features, tokenizer).
    public let frozen: SentenceEncoder
    /// The fine-tuned encoder and head.
    public let fineTuned: FineTunedModel
    /// The fine-tuned encoder's weights in the inference encoder.
    private let inference: SentenceEncoder

    /// An encoder from its two parts.
    public init(frozen: SentenceEncoder, fineTuned: FineTunedModel) throws(EncoderError) {
        guard frozen.dimension == fineTuned.model.layout.encoder.hiddenSize else {
            throw EncoderError(
                .invalidConfiguration, file: frozen.directory,
                "the fine-tuned model (hidden size \(fineTuned.model.layout.encoder.hiddenSize)) was not started "
                    + "from this encoder (dimension \(frozen.dimension))")
        }
        self.frozen = frozen
        self.fineTuned = fineTuned
        let weights = fineTuned.model.tensors().filter { !$0.key.hasPrefix("head.") }
        inference = try SentenceEncoder(
            replacingWeightsOf: frozen,
            with: InMemoryWeights(weights, sourceName: "fine-tuned \(frozen.modelIdentifier)"),
            identifier: "\(frozen.modelIdentifier)-fine-tuned", weightsDigest: frozen.weightsDigest,
            maxSequenceLength: fineTuned.maxTokens,
            normalizes: fineTuned.model.layout.head.normalizesEmbedding)
    }

    public var modelIdentifier: String { frozen.modelIdentifier }
    public var weightsDigest: String { frozen.weightsDigest }

    /// `[N, D + M]`: frozen embeddings (zeros when no partner needs them), then fine-tuned standardized
    /// predictions.
    public func embed(_ prompts: [String]) -> Matrix {
        let d = frozen.dimension
        let m = fineTuned.outputCount
        guard !prompts.isEmpty else { return Matrix(rows: 0, columns: d + m) }
        let pooled = inference.encode(prompts)
        let predictions = fineTuned.predictTargets(fromEmbeddings: pooled.storage)
        // Partners were fitted on frozen embeddings of inputs cut at the model's max tokens: cut the same way.
        let embeddings = fineTuned.needsFrozenEmbeddings ? frozen.encode(prompts, maxLength: fineTuned.maxTokens) : nil
        var storage = [Float](repeating: 0, count: prompts.count * (d + m))
        for i in 0..<prompts.count {
            if let embeddings {
                for j in 0..<d { storage[i * (d + m) + j] = embeddings.storage[i * d + j] }
            }
            for j in 0..<m { storage[i * (d + m) + d + j] = Float(predictions[i][j]) }
        }
        return Matrix(rows: prompts.count, columns: d + m, storage: storage)
    }
}

/// Predicted qualities from ``FineTunedPromptEncoder`` features: the fine-tuned prediction, averaged with its
/// partners (ridge, kernel) on the frozen part when it has them, mapped back to quality units.
public struct FineTunedFeatureEstimator: QualityEstimator {
    /// The fitted model.
    public let fineTuned: FineTunedModel
    /// `.transformer` with the fine-tuning options and the model's configuration.
    public let spec: EstimatorSpec

    /// An estimator over `fineTuned`'s features, fitted with `options`.
    public init(fineTuned: FineTunedModel, options: FineTuneOptions = FineTuneOptions()) {
        self.fineTuned = fineTuned
        spec = .transformer(TransformerOptions(fineTune: options, model: fineTuned.configuration))
    }

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

    /// Restores from ``tensors()`` and the spec's options, which must carry the model's configuration.
    public init(tensors: [String: EstimatorTensor], options: TransformerOptions) throws {
        guard let configuration = options.model else {
            throw EstimatorError("a stored transformer estimator lacks its model configuration")
        }
        do {
            fineTuned = try FineTunedModel(
                tensors: tensors.mapValues { SafetensorsTensor(shape: $0.shape, values: $0.values) },
                configuration: configuration, source: "router file")
        } catch {
            throw EstimatorError("transformer estimator: \(error.message)")
        }
        spec = .transformer(options)
    }
}

extension FineTunedFeatureEstimator: EncoderAdaptingEstimator {
    /// The fine-tuned encoder over the frozen sentence encoder `base` (or over the frozen part of a
    /// ``FineTunedPromptEncoder``).
    public func promptEncoder(over base: any PromptEncoder) throws -> any PromptEncoder {
        let frozen: SentenceEncoder
        if let sentence = base as? SentenceEncoder {
            frozen = sentence
        } else if let adapted = base as? FineTunedPromptEncoder {
            frozen = adapted.frozen
        } else {
            throw EstimatorError(
                "the transformer estimator needs the MiniLM sentence encoder, not \(base.modelIdentifier)")
        }
        return try FineTunedPromptEncoder(frozen: frozen, fineTuned: fineTuned)
    }
}

extension DeferralCurve {
    /// The fine-tuner's early-stopping objective, passed to it as a value: the area of the validation prompts'
    /// deferral curve over the cost range of the generators' mean costs on those prompts, as the evaluation
    /// defines it.
    public static let validationArea: TransformerFineTuner.Objective = { predicted, examples, ruleCosts in
        let quality = examples.map(\.quality)
        let cost = examples.map(\.cost)
        let curve = DeferralCurve.sweep(
            predicted: predicted, ruleCosts: Array(repeating: ruleCosts, count: examples.count), quality: quality,
            cost: cost)
        let means = cost.columnMeans(width: ruleCosts.count)
        return DeferralCurve.area(of: curve, lowCost: means.min() ?? 0, highCost: means.max() ?? 0)
    }
}
