import Foundation

/// The MiniLM / BERT sentence encoder of a sentence-transformers folder.
///
/// Nested types mirror the checkpoint's module tree (`embeddings`, `encoder.layer.N.attention.self.query`, …), so
/// weight names load without remapping. Shapes in comments use `T` for the tokens of a batch (all sequences
/// packed end to end), `H` for the hidden size (384), `I` for the intermediate size (1536).
public enum MiniLM {
    /// The BERT hyper-parameters of `config.json`: one type for inference and fine-tuning (the dropout fields
    /// matter only while training). Encoded with the checkpoint's keys, so a router file stores it as-is.
    public struct Configuration: Codable, Sendable, Equatable {
        /// Width of every token vector (`hidden_size`, 384).
        public var hiddenSize: Int
        /// Number of encoder layers (`num_hidden_layers`, 6).
        public var layerCount: Int
        /// Attention heads per layer (`num_attention_heads`, 12).
        public var headCount: Int
        /// Width of the feed-forward layer (`intermediate_size`, 1536).
        public var intermediateSize: Int
        /// LayerNorm epsilon (`layer_norm_eps`, 1e-12).
        public var layerNormEpsilon: Double
        /// Vocabulary size (`vocab_size`, 30522).
        public var vocabularySize: Int
        /// Longest sequence the position embeddings cover (`max_position_embeddings`, 512).
        public var maxPositionEmbeddings: Int
        /// Number of token types (`type_vocab_size`, 2).
        public var typeVocabularySize: Int
        /// The activation (`hidden_act`); only the exact erf `gelu` is supported.
        public var hiddenActivation: String
        /// `position_embedding_type`; only `absolute` is supported.
        public var positionEmbeddingType: String
        /// Dropout on embeddings and on each sub-layer's output while training (`hidden_dropout_prob`, 0.1).
        public var hiddenDropout: Double
        /// Dropout on attention probabilities while training (`attention_probs_dropout_prob`, 0.1).
        public var attentionDropout: Double

        enum CodingKeys: String, CodingKey {
            case hiddenSize = "hidden_size"
            case layerCount = "num_hidden_layers"
            case headCount = "num_attention_heads"
            case intermediateSize = "intermediate_size"
            case layerNormEpsilon = "layer_norm_eps"
            case vocabularySize = "vocab_size"
            case maxPositionEmbeddings = "max_position_embeddings"
            case typeVocabularySize = "type_vocab_size"
            case hiddenActivation = "hidden_act"
            case positionEmbeddingType = "position_embedding_type"
            case hiddenDropout = "hidden_dropout_prob"
            case attentionDropout = "attention_probs_dropout_prob"
        }

        /// A configuration from its values (tests, tiny models).
        public init(
            hiddenSize: Int, layerCount: Int, headCount: Int, intermediateSize: Int, vocabularySize: Int,
            maxPositionEmbeddings: Int, typeVocabularySize: Int = 2, layerNormEpsilon: Double = 1e-12,
            hiddenDropout: Double = 0.1, attentionDropout: Double = 0.1
        ) {
            self.hiddenSize = hiddenSize
            self.layerCount = layerCount
            self.headCount = headCount
            self.intermediateSize = intermediateSize
            self.vocabularySize = vocabularySize
            self.maxPositionEmbeddings = maxPositionEmbeddings
            self.typeVocabularySize = typeVocabularySize
            self.layerNormEpsilon = layerNormEpsilon
            self.hiddenActivation = "gelu"
            self.positionEmbeddingType = "absolute"
            self.hiddenDropout = hiddenDropout
            self.attentionDropout = attentionDropout
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            hiddenSize = try container.decode(Int.self, forKey: .hiddenSize)
            layerCount = try container.decode(Int.self, forKey: .layerCount)
            headCount = try container.decode(Int.self, forKey: .headCount)
            intermediateSize = try container.decode(Int.self, forKey: .intermediateSize)
            layerNormEpsilon = try container.decodeIfPresent(Double.self, forKey: .layerNormEpsilon) ?? 1e-12
            vocabularySize = try container.decode(Int.self, forKey: .vocabularySize)
            maxPositionEmbeddings = try container.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 512
            typeVocabularySize = try container.decodeIfPresent(Int.self, forKey: .typeVocabularySize) ?? 2
            hiddenActivation = try container.decodeIfPresent(String.self, forKey: .hiddenActivation) ?? "gelu"
            positionEmbeddingType =
                try container.decodeIfPresent(String.self, forKey: .positionEmbeddingType) ?? "absolute"
            hiddenDropout = try container.decodeIfPresent(Double.self, forKey: .hiddenDropout) ?? 0.1
            attentionDropout = try container.decodeIfPresent(Double.self, forKey: .attentionDropout) ?? 0.1
        }

        /// Width of one attention head (`H / heads`, 32).
        public var headSize: Int { hiddenSize / headCount }

        /// Reads and checks `config.json`.
        public static func load(_ path: String) throws(EncoderError) -> Configuration {
            let configuration: Configuration = try decodeJSON(path)
            try configuration.validate(file: path)
            return configuration
        }

        /// Checks that the sizes fit together and that the activation, positions and dropout are supported;
        /// `file` names where the configuration came from.
        public func validate(file: String) throws(EncoderError) {
            guard hiddenSize > 0, layerCount > 0, headCount > 0, hiddenSize % headCount == 0, intermediateSize > 0,
                vocabularySize > 0, maxPositionEmbeddings > 1, typeVocabularySize > 0
            else {
                throw EncoderError(
                    .invalidConfiguration, file: file,
                    "sizes must be positive and hidden_size (\(hiddenSize)) a multiple of "
                        + "num_attention_heads (\(headCount))")
            }
            guard hiddenActivation == "gelu" else {
                throw EncoderError(
                    .invalidConfiguration, file: file,
                    "hidden_act \"\(hiddenActivation)\" is not supported (exact erf \"gelu\" only)")
            }
            guard positionEmbeddingType == "absolute" else {
                throw EncoderError(
                    .invalidConfiguration, file: file,
                    "position_embedding_type \"\(positionEmbeddingType)\" is not supported")
            }
            guard (0..<1).contains(hiddenDropout), (0..<1).contains(attentionDropout) else {
                throw EncoderError(.invalidConfiguration, file: file, "dropout must be in [0, 1)")
            }
        }
    }

    /// The pooling of `1_Pooling/config.json`: which token summaries are concatenated into the sentence vector.
    public struct PoolingConfiguration: Decodable, Sendable, Equatable {
        /// Input width (`word_embedding_dimension`).
        public var wordEmbeddingDimension: Int
        /// The `[CLS]` token's vector.
        public var clsToken: Bool
        /// The mean over real tokens.
        public var meanTokens: Bool
        /// The element-wise maximum over real tokens.
        public var maxTokens: Bool
        /// The sum over real tokens divided by the square root of their count.
        public var meanSqrtLengthTokens: Bool
        /// Whether the pooled vector is L2-normalised (the sentence encoders' Normalize module; always on for a
        /// folder, off for a fine-tuned encoder whose head reads the raw pooled vector).
        public var normalizesOutput = true

        enum CodingKeys: String, CodingKey {
            case wordEmbeddingDimension = "word_embedding_dimension"
            case clsToken = "pooling_mode_cls_token"
            case meanTokens = "pooling_mode_mean_tokens"
            case maxTokens = "pooling_mode_max_tokens"
            case meanSqrtLengthTokens = "pooling_mode_mean_sqrt_len_tokens"
        }

        /// Mean pooling over `dimension`-wide token vectors (the default when a folder has no pooling file).
        public init(meanOver dimension: Int) {
            wordEmbeddingDimension = dimension
            clsToken = false
            meanTokens = true
            maxTokens = false
            meanSqrtLengthTokens = false
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            wordEmbeddingDimension = try container.decode(Int.self, forKey: .wordEmbeddingDimension)
            clsToken = try container.decodeIfPresent(Bool.self, forKey: .clsToken) ?? false
            meanTokens = try container.decodeIfPresent(Bool.self, forKey: .meanTokens) ?? false
            maxTokens = try container.decodeIfPresent(Bool.self, forKey: .maxTokens) ?? false
            meanSqrtLengthTokens = try container.decodeIfPresent(Bool.self, forKey: .meanSqrtLengthTokens) ?? false
        }

        /// Number of summaries concatenated (sentence-transformers' order: cls, mean, max, mean-sqrt-len).
        public var modeCount: Int { [clsToken, meanTokens, maxTokens, meanSqrtLengthTokens].filter { $0 }.count }
    }

    /// `sentence_bert_config.json`: the longest input in tokens, `[CLS]` and `[SEP]` included.
    public struct SentenceTransformerConfiguration: Decodable, Sendable, Equatable {
        /// Inputs are truncated to this many tokens (256 for all-MiniLM-L6-v2).
        public var maxSequenceLength: Int?

        enum CodingKeys: String, CodingKey {
            case maxSequenceLength = "max_seq_length"
        }
    }

    /// Decodes the JSON file at `path`, with an error naming it.
    static func decodeJSON<T: Decodable>(_ path: String) throws(EncoderError) -> T {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw EncoderError(.missingFile, file: path, "cannot read: \(error.localizedDescription)")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw EncoderError(.invalidConfiguration, file: path, "missing key \"\(key.stringValue)\"")
        } catch let DecodingError.typeMismatch(_, context) {
            throw EncoderError(
                .invalidConfiguration, file: path,
                "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))")
        } catch {
            throw EncoderError(.invalidConfiguration, file: path, "not valid JSON of the expected form: \(error)")
        }
    }
}
