import CATImageCore

extension MiniLM {
    /// `y = x · Wᵀ + b` for PyTorch's weight `W` `[outputs, inputs]`, bias `[outputs]`.
    ///
    /// The weight is stored transposed, `transposedWeight` `[inputs, outputs]` with row stride
    /// `leadingDimension`, because OpenBLAS multiplies `x · Wᵀ` 12-17% faster from that layout for the few-token
    /// products of single prompts (measured here at `[15, 384] · [384, 1152]`).
    struct Linear {
        let transposedWeight: UnsafePointer<Float>
        let leadingDimension: Int
        let bias: UnsafePointer<Float>
        let inputs: Int
        let outputs: Int
    }

    /// Layer normalisation over the last dimension: weight and bias `[H]`.
    struct LayerNorm {
        let weight: UnsafePointer<Float>
        let bias: UnsafePointer<Float>
        let count: Int
        let epsilon: Float
    }

    /// `embeddings`: word `[vocab, H]`, position `[P, H]`, token type `[types, H]`, then `LayerNorm`.
    struct Embeddings {
        let wordEmbeddings: UnsafePointer<Float>
        let positionEmbeddings: UnsafePointer<Float>
        let tokenTypeEmbeddings: UnsafePointer<Float>
        let layerNorm: LayerNorm
    }

    /// `attention.self`: query, key and value `[H, H]` each, stored side by side (transposed: `[H, 3H]`) so that
    /// `fused` (bias `[3H]`) computes all three in one GEMM; each of the three is a column block of it.
    struct SelfAttention {
        let query: Linear
        let key: Linear
        let value: Linear
        let fused: Linear
    }

    /// `attention.output` and `output`: a dense projection whose result is added to the residual, then LayerNorm.
    struct ResidualOutput {
        let dense: Linear
        let layerNorm: LayerNorm
    }

    /// `attention`: self-attention followed by its output projection.
    struct Attention {
        let selfAttention: SelfAttention
        let output: ResidualOutput
    }

    /// `encoder.layer.N`: attention, `intermediate.dense` `[I, H]` with GELU, `output` `[H, I]`.
    struct Layer {
        let attention: Attention
        let intermediate: Linear
        let output: ResidualOutput
    }

    /// The whole BERT encoder: `embeddings` and `encoder.layer.*` (the unused `pooler` is not loaded).
    final class Model: @unchecked Sendable {
        // Safe to share: every weight lives in `storage`, written once in `init` and only read afterwards;
        // the pointers in the module structs point into it and live exactly as long as this object.

        let configuration: Configuration
        let embeddings: Embeddings
        let layers: [Layer]
        /// The layers' dense weights packed for the small-row kernel (``MiniLM/SmallProduct``).
        let packed: PackedWeights
        /// The precision the model was loaded for.
        let precision: Precision
        /// The product kernel of ``precision`` on this CPU (see ``SmallProduct/kernel(for:environment:)``).
        let defaultKernel: ProductKernel
        private let storage: UnsafeMutablePointer<Float>
        private let storageCount: Int

        /// Loads every weight the forward pass needs from `weights`, checking each shape against `configuration`.
        ///
        /// Accepts names with or without a `bert.` prefix (checkpoints saved from `BertForMaskedLM` and the like).
        /// The dense weights are also packed for the small-row kernel, in bfloat16 too at `.bf16` (or if
        /// `bfloat16Panels`, for tests that run both precisions on one model); `precision` picks the kernel that
        /// ``forward(_:pooling:workspace:pooled:ways:kernel:)`` uses by default.
        init(
            configuration: Configuration, weights: some WeightSource, precision: Precision = .fp32,
            bfloat16Panels: Bool = false
        ) throws(EncoderError) {
            self.configuration = configuration
            self.precision = precision
            defaultKernel = SmallProduct.kernel(for: precision)
            let h = configuration.hiddenSize
            let i = configuration.intermediateSize
            let embeddingCount =
                (configuration.vocabularySize + configuration.maxPositionEmbeddings
                    + configuration.typeVocabularySize + 2) * h
            let layerCount = (3 * h * h + 3 * h) + (h * h + h + 2 * h) + (i * h + i) + (h * i + h + 2 * h)
            storageCount = embeddingCount + configuration.layerCount * layerCount
            storage = .allocate(capacity: storageCount)
            storage.initialize(repeating: 0, count: storageCount)
            var loader = Loader(
                weights: weights, storage: storage, capacity: storageCount,
                epsilon: Float(configuration.layerNormEpsilon),
                prefix: ["", "bert.", "model."].first { weights.contains("\($0)embeddings.word_embeddings.weight") }
                    ?? "")
            do {
                embeddings = Embeddings(
                    wordEmbeddings: try loader.load(
                        "embeddings.word_embeddings.weight", [configuration.vocabularySize, h]),
                    positionEmbeddings: try loader.load(
                        "embeddings.position_embeddings.weight", [configuration.maxPositionEmbeddings, h]),
                    tokenTypeEmbeddings: try loader.load(
                        "embeddings.token_type_embeddings.weight", [configuration.typeVocabularySize, h]),
                    layerNorm: try loader.layerNorm("embeddings.LayerNorm", h))
                var layers: [Layer] = []
                for index in 0..<configuration.layerCount {
                    let name = "encoder.layer.\(index)"
                    let qkvWeight = try loader.reserve(h * 3 * h)
                    for (block, part) in ["query", "key", "value"].enumerated() {
                        try loader.loadTransposed(
                            "\(name).attention.self.\(part).weight", outputs: h, inputs: h,
                            into: qkvWeight + block * h, leadingDimension: 3 * h)
                    }
                    let qkvBias = loader.cursor
                    let queryBias = try loader.load("\(name).attention.self.query.bias", [h])
                    let keyBias = try loader.load("\(name).attention.self.key.bias", [h])
                    let valueBias = try loader.load("\(name).attention.self.value.bias", [h])
                    func part(_ block: Int, _ bias: UnsafePointer<Float>) -> Linear {
                        Linear(
                            transposedWeight: qkvWeight + block * h, leadingDimension: 3 * h, bias: bias, inputs: h,
                            outputs: h)
                    }
                    let selfAttention = SelfAttention(
                        query: part(0, queryBias), key: part(1, keyBias), value: part(2, valueBias),
                        fused: Linear(
                            transposedWeight: qkvWeight, leadingDimension: 3 * h, bias: qkvBias, inputs: h,
                            outputs: 3 * h))
                    let attentionOutput = ResidualOutput(
                        dense: try loader.linear("\(name).attention.output.dense", inputs: h, outputs: h),
                        layerNorm: try loader.layerNorm("\(name).attention.output.LayerNorm", h))
                    let intermediate = try loader.linear("\(name).intermediate.dense", inputs: h, outputs: i)
                    let output = ResidualOutput(
                        dense: try loader.linear("\(name).output.dense", inputs: i, outputs: h),
                        layerNorm: try loader.layerNorm("\(name).output.LayerNorm", h))
                    layers.append(
                        Layer(
                            attention: Attention(selfAttention: selfAttention, output: attentionOutput),
                            intermediate: intermediate, output: output))
                }
                self.layers = layers
                // Only the panels a precision reads: bf16 runs every product on the bfloat16 ones (21 MB for
                // all-MiniLM-L6-v2), fp32 its small products on the fp32 ones (42 MB).
                packed = PackedWeights(
                    layers, float32: precision == .fp32 || bfloat16Panels,
                    bfloat16: precision == .bf16 || bfloat16Panels)
            } catch {
                storage.deallocate()
                throw error
            }
        }

        deinit { storage.deallocate() }
    }

    /// Copies tensors one after another into the model's storage, checking names and shapes.
    private struct Loader<Source: WeightSource> {
        let weights: Source
        let storage: UnsafeMutablePointer<Float>
        let capacity: Int
        let epsilon: Float
        let prefix: String
        var used = 0

        init(
            weights: Source, storage: UnsafeMutablePointer<Float>, capacity: Int, epsilon: Float,
            prefix: String
        ) {
            self.weights = weights
            self.storage = storage
            self.capacity = capacity
            self.epsilon = epsilon
            self.prefix = prefix
        }

        var cursor: UnsafePointer<Float> { UnsafePointer(storage + used) }

        mutating func load(_ name: String, _ shape: [Int]) throws(EncoderError) -> UnsafePointer<Float> {
            let values: [Float]
            do {
                values = try weights.tensor(named: prefix + name, shape: shape)
            } catch {
                throw EncoderError(.invalidWeights, file: weights.sourceName, error.description)
            }
            precondition(used + values.count <= capacity, "weight storage too small at \(name)")
            let start = storage + used
            values.withUnsafeBufferPointer { start.update(from: $0.baseAddress!, count: values.count) }
            used += values.count
            return UnsafePointer(start)
        }

        /// `count` floats of storage, to be filled by `loadTransposed`.
        mutating func reserve(_ count: Int) throws(EncoderError) -> UnsafeMutablePointer<Float> {
            precondition(used + count <= capacity, "weight storage too small")
            defer { used += count }
            return storage + used
        }

        /// Copies the `[outputs, inputs]` tensor `name` transposed into `target` (`[inputs, outputs]`, row
        /// stride `leadingDimension`).
        mutating func loadTransposed(
            _ name: String, outputs: Int, inputs: Int, into target: UnsafeMutablePointer<Float>,
            leadingDimension: Int
        ) throws(EncoderError) {
            let values: [Float]
            do {
                values = try weights.tensor(named: prefix + name, shape: [outputs, inputs])
            } catch {
                throw EncoderError(.invalidWeights, file: weights.sourceName, error.description)
            }
            for o in 0..<outputs {
                for i in 0..<inputs { target[i * leadingDimension + o] = values[o * inputs + i] }
            }
        }

        mutating func linear(_ name: String, inputs: Int, outputs: Int) throws(EncoderError) -> Linear {
            let weight = try reserve(inputs * outputs)
            try loadTransposed(
                "\(name).weight", outputs: outputs, inputs: inputs, into: weight, leadingDimension: outputs)
            let bias = try load("\(name).bias", [outputs])
            return Linear(
                transposedWeight: weight, leadingDimension: outputs, bias: bias, inputs: inputs, outputs: outputs)
        }

        mutating func layerNorm(_ name: String, _ count: Int) throws(EncoderError) -> LayerNorm {
            let weight = try load("\(name).weight", [count])
            let bias = try load("\(name).bias", [count])
            return LayerNorm(weight: weight, bias: bias, count: count, epsilon: epsilon)
        }
    }
}

/// Where a model's weights come from: a safetensors file, or tensors already in memory (a fine-tuned encoder
/// restored from a router file).
public protocol WeightSource {
    /// The file, or a description of where the tensors came from, for error messages.
    var sourceName: String { get }
    /// Whether tensor `name` is present.
    func contains(_ name: String) -> Bool
    /// Tensor `name` after checking that its shape is `expected`.
    func tensor(named name: String, shape expected: [Int]) throws(SafetensorsError) -> [Float]
}

extension SafetensorsFile: WeightSource {
    public var sourceName: String { path }
}

/// Tensors in memory, by name, as a ``WeightSource``.
public struct InMemoryWeights: WeightSource, Sendable {
    public let sourceName: String
    public let tensors: [String: SafetensorsTensor]

    /// Tensors named as in a checkpoint (`embeddings.word_embeddings.weight`, `encoder.layer.0...`).
    public init(_ tensors: [String: SafetensorsTensor], sourceName: String) {
        self.tensors = tensors
        self.sourceName = sourceName
    }

    public func contains(_ name: String) -> Bool { tensors[name] != nil }

    public func tensor(named name: String, shape expected: [Int]) throws(SafetensorsError) -> [Float] {
        guard let tensor = tensors[name] else {
            throw SafetensorsError(.missingTensor, file: sourceName, tensor: name, "no such tensor")
        }
        guard tensor.shape == expected else {
            throw SafetensorsError(
                .invalidShape, file: sourceName, tensor: name, "shape \(tensor.shape), expected \(expected)")
        }
        return tensor.values
    }
}
