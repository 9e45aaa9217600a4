import CATImageEncoder

/// Where every tensor of the trainable model lives in one flat parameter vector.
///
/// Names follow the Hugging Face BERT checkpoint (`encoder.layer.0.attention.self.query.weight`, ...) so weights
/// load without remapping; the head's tensors are `head.hidden.*` (when present) and `head.output.*`.
/// One flat vector makes the optimizer, gradient sums across workers and clipping single loops.
public struct ParameterLayout: Sendable, Equatable {
    /// One tensor of the layout.
    public struct Entry: Sendable, Equatable {
        /// Checkpoint name.
        public let name: String
        /// Shape, outermost first (`[out, in]` for linear weights, as PyTorch stores them).
        public let shape: [Int]
        /// Offset of the first value in the flat vector.
        public let offset: Int
        /// Whether the tensor belongs to the head (its own learning rate) rather than the encoder.
        public let isHead: Bool
        /// Whether AdamW weight decay applies (matrices; not biases, LayerNorm or embeddings tables' norms).
        public let decays: Bool

        /// Number of values.
        public var count: Int { shape.reduce(1, *) }
        /// The range of the tensor in the flat vector.
        public var range: Range<Int> { offset..<(offset + count) }
    }

    /// The tensors in order.
    public let entries: [Entry]
    /// Total number of values.
    public let count: Int
    /// The encoder configuration.
    public let encoder: MiniLM.Configuration
    /// The head configuration.
    public let head: RegressionHeadConfig
    private let index: [String: Int]

    /// The layout of `encoder` followed by `head`.
    public init(encoder: MiniLM.Configuration, head: RegressionHeadConfig) {
        self.encoder = encoder
        self.head = head
        var entries: [Entry] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int], head: Bool = false, decays: Bool? = nil) {
            let entry = Entry(
                name: name, shape: shape, offset: offset, isHead: head,
                decays: decays ?? (shape.count == 2 && !name.contains("LayerNorm")))
            entries.append(entry)
            offset += entry.count
        }
        let h = encoder.hiddenSize
        add("embeddings.word_embeddings.weight", [encoder.vocabularySize, h])
        add("embeddings.position_embeddings.weight", [encoder.maxPositionEmbeddings, h])
        add("embeddings.token_type_embeddings.weight", [encoder.typeVocabularySize, h])
        add("embeddings.LayerNorm.weight", [h])
        add("embeddings.LayerNorm.bias", [h])
        for l in 0..<encoder.layerCount {
            let p = "encoder.layer.\(l)."
            for part in ["query", "key", "value"] {
                add(p + "attention.self.\(part).weight", [h, h])
                add(p + "attention.self.\(part).bias", [h])
            }
            add(p + "attention.output.dense.weight", [h, h])
            add(p + "attention.output.dense.bias", [h])
            add(p + "attention.output.LayerNorm.weight", [h])
            add(p + "attention.output.LayerNorm.bias", [h])
            add(p + "intermediate.dense.weight", [encoder.intermediateSize, h])
            add(p + "intermediate.dense.bias", [encoder.intermediateSize])
            add(p + "output.dense.weight", [h, encoder.intermediateSize])
            add(p + "output.dense.bias", [h])
            add(p + "output.LayerNorm.weight", [h])
            add(p + "output.LayerNorm.bias", [h])
        }
        var width = h
        if head.hiddenSize > 0 {
            add("head.hidden.weight", [head.hiddenSize, h], head: true)
            add("head.hidden.bias", [head.hiddenSize], head: true)
            width = head.hiddenSize
        }
        add("head.output.weight", [head.outputCount, width], head: true)
        add("head.output.bias", [head.outputCount], head: true)
        self.entries = entries
        self.count = offset
        self.index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
    }

    /// The entry named `name`; a programmer's mistake when absent.
    public subscript(name: String) -> Entry {
        guard let i = index[name] else { preconditionFailure("no parameter named \(name)") }
        return entries[i]
    }

    /// Offset of the tensor named `name`.
    func offset(_ name: String) -> Int { self[name].offset }

    /// Offsets of one Transformer layer's tensors.
    struct LayerOffsets {
        let query, queryBias, key, keyBias, value, valueBias: Int
        let attentionOutput, attentionOutputBias, attentionNormWeight, attentionNormBias: Int
        let intermediate, intermediateBias, output, outputBias, outputNormWeight, outputNormBias: Int
    }

    func layerOffsets(_ l: Int) -> LayerOffsets {
        let p = "encoder.layer.\(l)."
        return LayerOffsets(
            query: offset(p + "attention.self.query.weight"), queryBias: offset(p + "attention.self.query.bias"),
            key: offset(p + "attention.self.key.weight"), keyBias: offset(p + "attention.self.key.bias"),
            value: offset(p + "attention.self.value.weight"), valueBias: offset(p + "attention.self.value.bias"),
            attentionOutput: offset(p + "attention.output.dense.weight"),
            attentionOutputBias: offset(p + "attention.output.dense.bias"),
            attentionNormWeight: offset(p + "attention.output.LayerNorm.weight"),
            attentionNormBias: offset(p + "attention.output.LayerNorm.bias"),
            intermediate: offset(p + "intermediate.dense.weight"),
            intermediateBias: offset(p + "intermediate.dense.bias"),
            output: offset(p + "output.dense.weight"), outputBias: offset(p + "output.dense.bias"),
            outputNormWeight: offset(p + "output.LayerNorm.weight"),
            outputNormBias: offset(p + "output.LayerNorm.bias"))
    }
}
