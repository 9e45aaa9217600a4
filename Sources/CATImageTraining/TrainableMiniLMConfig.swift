import Foundation

/// The shape of a BERT-family encoder as far as training needs it, decoded from a model's `config.json`.
public struct TrainableMiniLMConfig: Sendable, Equatable, Codable {
    /// Width of every token vector (384 for all-MiniLM-L6-v2).
    public var hiddenSize: Int
    /// Number of Transformer layers.
    public var layerCount: Int
    /// Number of attention heads (`hiddenSize` must be a multiple of it).
    public var headCount: Int
    /// Width of the feed-forward layer.
    public var intermediateSize: Int
    /// Rows of the word-embedding table.
    public var vocabularySize: Int
    /// Rows of the position-embedding table (the longest input).
    public var maxPositions: Int
    /// Rows of the token-type table.
    public var typeVocabularySize: Int
    /// LayerNorm epsilon.
    public var layerNormEpsilon: Double
    /// Dropout on embeddings and on each sub-layer's output, while training.
    public var hiddenDropout: Double
    /// Dropout on attention probabilities, while training.
    public var attentionDropout: Double

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size"
        case layerCount = "num_hidden_layers"
        case headCount = "num_attention_heads"
        case intermediateSize = "intermediate_size"
        case vocabularySize = "vocab_size"
        case maxPositions = "max_position_embeddings"
        case typeVocabularySize = "type_vocab_size"
        case layerNormEpsilon = "layer_norm_eps"
        case hiddenDropout = "hidden_dropout_prob"
        case attentionDropout = "attention_probs_dropout_prob"
    }

    /// A configuration from its values.
    public init(
        hiddenSize: Int, layerCount: Int, headCount: Int, intermediateSize: Int, vocabularySize: Int,
        maxPositions: Int, typeVocabularySize: Int = 2, layerNormEpsilon: Double = 1e-12,
        hiddenDropout: Double = 0.1, attentionDropout: Double = 0.1
    ) {
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.intermediateSize = intermediateSize
        self.vocabularySize = vocabularySize
        self.maxPositions = maxPositions
        self.typeVocabularySize = typeVocabularySize
        self.layerNormEpsilon = layerNormEpsilon
        self.hiddenDropout = hiddenDropout
        self.attentionDropout = attentionDropout
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        layerCount = try c.decode(Int.self, forKey: .layerCount)
        headCount = try c.decode(Int.self, forKey: .headCount)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        vocabularySize = try c.decode(Int.self, forKey: .vocabularySize)
        maxPositions = try c.decode(Int.self, forKey: .maxPositions)
        typeVocabularySize = try c.decodeIfPresent(Int.self, forKey: .typeVocabularySize) ?? 2
        layerNormEpsilon = try c.decodeIfPresent(Double.self, forKey: .layerNormEpsilon) ?? 1e-12
        hiddenDropout = try c.decodeIfPresent(Double.self, forKey: .hiddenDropout) ?? 0.1
        attentionDropout = try c.decodeIfPresent(Double.self, forKey: .attentionDropout) ?? 0.1
        try validate(source: "config.json")
    }

    /// Reads `config.json` of a model folder.
    public init(contentsOf path: String) throws(FineTuneError) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw FineTuneError("cannot read \(path): \(error.localizedDescription)")
        }
        do {
            self = try JSONDecoder().decode(TrainableMiniLMConfig.self, from: data)
        } catch let error as FineTuneError {
            throw FineTuneError("\(path): \(error.message)")
        } catch {
            throw FineTuneError("\(path): not a BERT config.json (\(error))")
        }
    }

    /// Width of one attention head.
    public var headSize: Int { hiddenSize / headCount }

    func validate(source: String) throws(FineTuneError) {
        let sizes = [hiddenSize, layerCount, headCount, intermediateSize, vocabularySize, maxPositions]
        guard sizes.allSatisfy({ $0 > 0 }), typeVocabularySize > 0 else {
            throw FineTuneError("\(source): every size must be positive, got \(sizes)")
        }
        guard hiddenSize % headCount == 0 else {
            throw FineTuneError("\(source): hidden_size \(hiddenSize) is not a multiple of \(headCount) heads")
        }
        guard (0..<1).contains(hiddenDropout), (0..<1).contains(attentionDropout) else {
            throw FineTuneError("\(source): dropout must be in [0, 1)")
        }
    }
}

/// The regression head on the pooled sentence vector: one output per generator.
public struct RegressionHeadConfig: Sendable, Equatable, Codable {
    /// Number of outputs (generators).
    public var outputCount: Int
    /// Width of the hidden GELU layer, or 0 for a linear head.
    public var hiddenSize: Int
    /// Whether the pooled vector is L2-normalised before the head (as the sentence encoder does).
    public var normalizesEmbedding: Bool

    /// A head configuration.
    public init(outputCount: Int, hiddenSize: Int = 0, normalizesEmbedding: Bool = false) {
        precondition(outputCount > 0 && hiddenSize >= 0, "head sizes must be positive")
        self.outputCount = outputCount
        self.hiddenSize = hiddenSize
        self.normalizesEmbedding = normalizesEmbedding
    }
}

/// A problem with fine-tuning input (weights, configuration, data), in words a person can act on.
public struct FineTuneError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong and where.
    public let message: String

    /// An error with its message.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
