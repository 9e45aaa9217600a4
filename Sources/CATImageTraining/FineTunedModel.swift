import CATImageCore
import CATImageEncoder
import Foundation

/// A fine-tuned MiniLM with its regression head: what a fine-tuning run returns. It predicts the standardized
/// targets it was trained on; what they mean (a quality scaling, partners to average with) is the caller's.
/// Immutable and `Sendable`; saved as one safetensors file.
public struct FineTunedModel: Sendable {
    /// The fine-tuned encoder and head.
    public let model: TrainableMiniLM<Float>
    /// Longest input the model was trained with (tokenize with this limit).
    public let maxTokens: Int

    /// A fitted model from its parts.
    public init(model: TrainableMiniLM<Float>, maxTokens: Int) {
        self.model = model
        self.maxTokens = maxTokens
    }

    /// Number of outputs.
    public var outputCount: Int { model.layout.head.outputCount }

    /// The model with only its first `count` outputs: the head's output rows past them (auxiliary outputs trained
    /// beside the targets) dropped, everything else unchanged.
    public func keepingOutputs(_ count: Int) -> FineTunedModel {
        precondition((1...outputCount).contains(count), "keep 1...\(outputCount) outputs, not \(count)")
        guard count < outputCount else { return self }
        var head = model.layout.head
        head.outputCount = count
        let layout = ParameterLayout(encoder: model.layout.encoder, head: head)
        var kept = TrainableMiniLM<Float>(layout: layout, seed: 0)
        for entry in layout.entries {
            // Output rows are outermost in `head.output.*`, so the kept ones are each tensor's prefix.
            let source = model.layout[entry.name]
            for k in 0..<entry.count { kept.values[entry.offset + k] = model.values[source.offset + k] }
        }
        return FineTunedModel(model: kept, maxTokens: maxTokens)
    }

    /// Standardized predictions `[N][M]` in input order. Prompts are run in batches of similar length spread over
    /// `workers` threads.
    public func predictTargets(_ tokens: [[Int32]], workers: Int = Parallel.defaultWorkerCount) -> [[Double]] {
        let m = outputCount
        let flat = Self.run(tokens, workers: workers, width: m) { model.predict($0) }
        return (0..<tokens.count).map { i in (0..<m).map { Double(flat[i * m + $0]) } }
    }

    /// Sentence embeddings `[N, D]` (mean pooled, L2-normalised) of `model`'s encoder, in input order.
    public static func embed(
        _ model: TrainableMiniLM<Float>, _ tokens: [[Int32]], workers: Int = Parallel.defaultWorkerCount
    ) -> [Float] {
        run(tokens, workers: workers, width: model.layout.encoder.hiddenSize) { model.embed($0) }
    }

    /// Runs `body` on batches of 32 prompts of similar length and scatters its `[count, width]` rows back.
    static func run(
        _ tokens: [[Int32]], workers: Int, width: Int, _ body: @Sendable (TokenBatch) -> [Float]
    ) -> [Float] {
        guard !tokens.isEmpty else { return [] }
        let order = tokens.indices.sorted {
            tokens[$0].count != tokens[$1].count ? tokens[$0].count < tokens[$1].count : $0 < $1
        }
        let batchSize = 32
        let chunks = stride(from: 0, to: order.count, by: batchSize).map {
            Array(order[$0..<min($0 + batchSize, order.count)])
        }
        let outputs = Parallel.map(chunks.count, workers: workers) { c in body(TokenBatch(chunks[c].map { tokens[$0] }))
        }
        var result = [Float](repeating: 0, count: tokens.count * width)
        for (chunk, output) in zip(chunks, outputs) {
            for (k, i) in chunk.enumerated() {
                for j in 0..<width { result[i * width + j] = output[k * width + j] }
            }
        }
        return result
    }
}

extension FineTunedModel {
    /// The metadata key holding the model's description (JSON).
    public static let metadataKey = "catimage.transformer"

    /// Everything besides the arrays that restoring a model needs: the encoder's and head's shapes and the
    /// longest input. Stored as JSON in the safetensors metadata (``metadataKey``).
    public struct Configuration: Sendable, Equatable, Codable {
        /// The encoder's shape.
        public var encoder: MiniLM.Configuration
        /// The head's shape.
        public var head: RegressionHeadConfig
        /// Longest input in tokens.
        public var maxTokens: Int

        /// A configuration from its parts.
        public init(encoder: MiniLM.Configuration, head: RegressionHeadConfig, maxTokens: Int) {
            self.encoder = encoder
            self.head = head
            self.maxTokens = maxTokens
        }
    }

    /// This model's configuration.
    public var configuration: Configuration {
        Configuration(encoder: model.layout.encoder, head: model.layout.head, maxTokens: maxTokens)
    }

    /// Every array by name: the encoder under its checkpoint names (`embeddings.*`, `encoder.layer.*`) and the
    /// head (`head.*`), each under `prefix`.
    public func tensors(prefix: String = "") -> [String: SafetensorsTensor] {
        var result: [String: SafetensorsTensor] = [:]
        for (name, tensor) in model.tensors() { result[prefix + name] = tensor }
        return result
    }

    /// The metadata entry (``metadataKey`` → JSON of the configuration).
    public func metadata() -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = (try? encoder.encode(configuration)) ?? Data()
        return [Self.metadataKey: String(decoding: data, as: UTF8.self)]
    }

    /// Restores a model from ``tensors(prefix:)`` and ``metadata()``.
    public init(
        tensors: [String: SafetensorsTensor], metadata: [String: String], prefix: String = "",
        source: String = "<tensors>"
    ) throws(FineTuneError) {
        guard let json = metadata[Self.metadataKey] else {
            throw FineTuneError("\(source): no \(Self.metadataKey) metadata")
        }
        let configuration: Configuration
        do {
            configuration = try JSONDecoder().decode(Configuration.self, from: Data(json.utf8))
        } catch {
            throw FineTuneError("\(source): unreadable \(Self.metadataKey) metadata: \(error)")
        }
        try self.init(tensors: tensors, configuration: configuration, prefix: prefix, source: source)
    }

    /// Restores a model from ``tensors(prefix:)`` and its ``configuration``.
    public init(
        tensors: [String: SafetensorsTensor], configuration description: Configuration, prefix: String = "",
        source: String = "<tensors>"
    ) throws(FineTuneError) {
        do { try description.encoder.validate(file: source) } catch { throw FineTuneError(error.description) }
        let layout = ParameterLayout(encoder: description.encoder, head: description.head)
        var values = [Float](repeating: 0, count: layout.count)
        for entry in layout.entries {
            guard let tensor = tensors[prefix + entry.name] else {
                throw FineTuneError("\(source): no tensor \(prefix + entry.name)")
            }
            guard tensor.values.count == entry.count else {
                throw FineTuneError(
                    "\(source): \(prefix + entry.name) holds \(tensor.values.count) values, expected \(entry.count)")
            }
            for k in 0..<entry.count { values[entry.offset + k] = tensor.values[k] }
        }
        var model = TrainableMiniLM<Float>(layout: layout, seed: 0)
        model.values = values
        self.model = model
        self.maxTokens = description.maxTokens
    }

    /// Writes the model as one safetensors file.
    public func write(to path: String) throws(FineTuneError) {
        do {
            try SafetensorsWriter.write(tensors: tensors(), metadata: metadata(), to: path)
        } catch {
            throw FineTuneError("cannot write \(path): \(error)")
        }
    }

    /// Reads a model written by ``write(to:)``.
    public init(contentsOf path: String) throws(FineTuneError) {
        let file: SafetensorsFile
        var tensors: [String: SafetensorsTensor] = [:]
        do {
            file = try SafetensorsFile(contentsOf: path)
            for name in file.tensorNames { tensors[name] = try file.tensor(named: name) }
        } catch {
            throw FineTuneError("cannot read \(path): \(error)")
        }
        try self.init(tensors: tensors, metadata: file.metadata, source: path)
    }
}
