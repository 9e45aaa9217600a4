import CATImageCore
import CATImageEncoder
import Foundation

/// A fine-tuned MiniLM with its regression head, target scaling and optional ridge partner: the fitted
/// Transformer quality estimator. Immutable and `Sendable`; saved as one safetensors file.
public struct FineTunedModel: Sendable {
    /// The fine-tuned encoder and head.
    public let model: TrainableMiniLM<Float>
    /// Maps predictions back to qualities.
    public let scaler: TargetScaling
    /// Longest input the model was trained with (tokenize with this limit).
    public let maxTokens: Int
    /// Ridge on frozen (pretrained) embeddings, averaged with the fine-tuned prediction when present.
    public let ridge: FrozenRidge?
    /// Similarity kernel on frozen embeddings, averaged in as well when present.
    public let kernel: FrozenKernel?

    /// A fitted model from its parts.
    public init(
        model: TrainableMiniLM<Float>, scaler: TargetScaling, maxTokens: Int, ridge: FrozenRidge?,
        kernel: FrozenKernel? = nil
    ) {
        self.model = model
        self.scaler = scaler
        self.maxTokens = maxTokens
        self.ridge = ridge
        self.kernel = kernel
    }

    /// Whether predictions average in partners on frozen embeddings (``predictQuality(_:frozenEmbeddings:workers:)``
    /// then needs them).
    public var needsFrozenEmbeddings: Bool { ridge != nil || kernel != nil }

    /// The average of the standardized predictions `z` and those of the partners on `frozenEmbeddings`.
    public func ensembleTargets(_ z: [[Double]], frozenEmbeddings: [Float]) -> [[Double]] {
        var partners: [[[Double]]] = []
        if let ridge { partners.append(ridge.predict(features: frozenEmbeddings)) }
        if let kernel { partners.append(kernel.predict(features: frozenEmbeddings)) }
        guard !partners.isEmpty else { return z }
        let share = 1 / Double(partners.count + 1)
        var result = z
        for i in result.indices {
            for j in result[i].indices {
                var sum = z[i][j]
                for partner in partners {
                    precondition(
                        partner.count == z.count, "frozen embeddings for \(partner.count) prompts, not \(z.count)")
                    sum += partner[i][j]
                }
                result[i][j] = sum * share
            }
        }
        return result
    }

    /// Number of generators.
    public var outputCount: Int { model.layout.head.outputCount }

    /// Standardized predictions `[N][M]` of the fine-tuned model alone, in input order. Prompts are run in
    /// batches of similar length spread over `workers` threads.
    public func predictTargets(_ tokens: [[Int32]], workers: Int = Parallel.defaultWorkerCount) -> [[Double]] {
        let m = outputCount
        let flat = Self.run(tokens, workers: workers, width: m) { model.predict($0) }
        return (0..<tokens.count).map { i in (0..<m).map { Double(flat[i * m + $0]) } }
    }

    /// Predicted quality `[N][M]` (up to a per-prompt constant for the relative target, which routing ignores).
    ///
    /// - Parameter frozenEmbeddings: the pretrained encoder's embeddings `[N, D]` of the same prompts; required
    ///   when the model has a ridge partner (the router already computes them for the frozen estimators).
    public func predictQuality(
        _ tokens: [[Int32]], frozenEmbeddings: [Float]? = nil, workers: Int = Parallel.defaultWorkerCount
    ) -> [[Double]] {
        var z = predictTargets(tokens, workers: workers)
        if needsFrozenEmbeddings {
            guard let frozenEmbeddings else {
                preconditionFailure("this model averages with partners on frozen embeddings: pass them")
            }
            z = ensembleTargets(z, frozenEmbeddings: frozenEmbeddings)
        }
        return z.map(scaler.quality(fromTarget:))
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

    /// Everything besides the arrays that restoring a model needs: shapes, head, target kind, max tokens, ridge α.
    /// Stored as JSON in the safetensors metadata (``metadataKey``), or in a router file's configuration.
    public struct Configuration: Sendable, Equatable, Codable {
        /// The encoder's shape.
        public var encoder: MiniLM.Configuration
        /// The head's shape.
        public var head: RegressionHeadConfig
        /// What the head predicts.
        public var target: TargetKind
        /// Longest input in tokens.
        public var maxTokens: Int
        /// Ridge α of the ensemble partner, when there is one.
        public var ridgeAlpha: Double?
        /// Kernel width τ of the ensemble partner, when there is one.
        public var kernelTau: Double?
    }

    /// This model's configuration.
    public var configuration: Configuration {
        Configuration(
            encoder: model.layout.encoder, head: model.layout.head, target: scaler.kind, maxTokens: maxTokens,
            ridgeAlpha: ridge?.alpha, kernelTau: kernel?.tau)
    }

    /// Every array by name: the encoder under its checkpoint names (`embeddings.*`, `encoder.layer.*`), the head
    /// (`head.*`), target scaling (`targets.*`) and the ridge partner (`ridge.*`), each under `prefix`.
    public func tensors(prefix: String = "") -> [String: SafetensorsTensor] {
        var result: [String: SafetensorsTensor] = [:]
        for (name, tensor) in model.tensors() { result[prefix + name] = tensor }
        result[prefix + "targets.mean"] = SafetensorsTensor(scaler.means.map { Float($0) })
        result[prefix + "targets.scale"] = SafetensorsTensor(scaler.scales.map { Float($0) })
        result[prefix + "targets.offset"] = SafetensorsTensor([Float(scaler.offset)])
        if let ridge {
            result[prefix + "ridge.feature_mean"] = SafetensorsTensor(ridge.featureMeans.map { Float($0) })
            result[prefix + "ridge.weight"] = SafetensorsTensor(
                shape: [ridge.featureMeans.count, ridge.intercept.count], values: ridge.weights.map { Float($0) })
            result[prefix + "ridge.intercept"] = SafetensorsTensor(ridge.intercept.map { Float($0) })
        }
        if let kernel {
            result[prefix + "kernel.features"] = SafetensorsTensor(
                shape: [kernel.count, kernel.dimension], values: kernel.features)
            result[prefix + "kernel.targets"] = SafetensorsTensor(
                shape: [kernel.count, kernel.targets.count / max(1, kernel.count)], values: kernel.targets)
        }
        return result
    }

    /// The metadata entry (``metadataKey`` → JSON of configuration, target kind, max tokens, ridge α).
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
        func array(_ name: String, count: Int) throws(FineTuneError) -> [Float] {
            guard let tensor = tensors[prefix + name] else {
                throw FineTuneError("\(source): no tensor \(prefix + name)")
            }
            guard tensor.values.count == count else {
                throw FineTuneError(
                    "\(source): \(prefix + name) holds \(tensor.values.count) values, expected \(count)")
            }
            return tensor.values
        }
        for entry in layout.entries {
            let loaded = try array(entry.name, count: entry.count)
            for k in 0..<entry.count { values[entry.offset + k] = loaded[k] }
        }
        var model = TrainableMiniLM<Float>(layout: layout, seed: 0)
        model.values = values
        let m = description.head.outputCount
        let offset = try array("targets.offset", count: 1)
        scaler = TargetScaling(
            kind: description.target, means: try array("targets.mean", count: m).map { Double($0) },
            scales: try array("targets.scale", count: m).map { Double($0) }, offset: Double(offset[0]))
        if let alpha = description.ridgeAlpha {
            let d = description.encoder.hiddenSize
            ridge = FrozenRidge(
                alpha: alpha, featureMeans: try array("ridge.feature_mean", count: d).map { Double($0) },
                weights: try array("ridge.weight", count: d * m).map { Double($0) },
                intercept: try array("ridge.intercept", count: m).map { Double($0) })
        } else {
            ridge = nil
        }
        if let tau = description.kernelTau {
            let d = description.encoder.hiddenSize
            guard let features = tensors[prefix + "kernel.features"], features.shape.count == 2,
                features.shape[1] == d, let targets = tensors[prefix + "kernel.targets"],
                targets.values.count == features.shape[0] * m
            else {
                throw FineTuneError("\(source): kernel tensors \(prefix)kernel.* are missing or disagree in shape")
            }
            kernel = FrozenKernel(tau: tau, features: features.values, dimension: d, targets: targets.values)
        } else {
            kernel = nil
        }
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
