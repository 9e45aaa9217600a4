import CATImageCore
import Dispatch
import Foundation
import Synchronization

/// A sentence encoder loaded from a sentence-transformers folder (all-MiniLM-L6-v2 or any BERT-family model):
/// text in, L2-normalised vectors out, computed in Swift through CBLAS with no Python at run time.
///
/// Thread-safe: one encoder can serve concurrent callers; each running forward pass takes its own scratch
/// workspace from a pool.
public final class SentenceEncoder: Sendable {
    /// The folder the model was loaded from.
    public let directory: String
    /// The BERT hyper-parameters.
    public let configuration: MiniLM.Configuration
    /// How token vectors become one sentence vector.
    public let pooling: MiniLM.PoolingConfiguration
    /// The tokenizer of the folder.
    public let tokenizer: BertTokenizer
    /// Inputs are cut to this many tokens, `[CLS]` and `[SEP]` included (256 for all-MiniLM-L6-v2).
    public let maxSequenceLength: Int
    /// Lowercase hex SHA-256 of `model.safetensors`: identifies the weights (router files, embedding cache).
    public let weightsDigest: String
    /// A short name of the model, e.g. `all-MiniLM-L6-v2`.
    public let modelIdentifier: String
    /// The arithmetic of the dense products (fp32 unless asked for).
    public let precision: MiniLM.Precision
    /// What the embeddings are a function of: ``weightsDigest``, with `-bf16` appended at bfloat16 precision (the
    /// embedding cache's key, so that the two precisions never read each other's vectors).
    public var embeddingIdentity: String {
        precision == .fp32 ? weightsDigest : "\(weightsDigest)-\(precision.rawValue)"
    }

    private let model: MiniLM.Model
    private let workspaces: WorkspacePool

    /// Width of the sentence vectors (384 for all-MiniLM-L6-v2).
    public var dimension: Int { configuration.hiddenSize * pooling.modeCount }

    /// Loads the sentence-transformers folder at `directory`: `config.json`, `tokenizer.json` or `vocab.txt`,
    /// `model.safetensors`, and when present `sentence_bert_config.json` (`max_seq_length`) and the pooling
    /// module's `config.json` (found through `modules.json`, else `1_Pooling/`).
    ///
    /// Also sets OpenBLAS to one thread per call: the encoder parallelises across inputs instead, which is about
    /// twice as fast for its small matrix products on this kind of machine.
    ///
    /// - Parameter precision: the dense products' arithmetic; `nil` reads `$CATIMAGE_ENCODER_PRECISION` (fp32
    ///   when unset; an unknown value is an error).
    public init(directory: String, precision requested: MiniLM.Precision? = nil) throws(EncoderError) {
        let precision: MiniLM.Precision
        if let requested { precision = requested } else { precision = try MiniLM.Precision.fromEnvironment() }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isFolder), isFolder.boolValue else {
            throw EncoderError(
                .missingFile, file: directory,
                "no model folder here (run `catimage model fetch`, or pass a sentence-transformers folder)")
        }
        self.directory = directory
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

        configuration = try MiniLM.Configuration.load(path("config.json"))
        pooling = try Self.loadPooling(directory: directory, hiddenSize: configuration.hiddenSize)
        var maxLength = configuration.maxPositionEmbeddings
        if FileManager.default.fileExists(atPath: path("sentence_bert_config.json")) {
            let sentenceConfiguration: MiniLM.SentenceTransformerConfiguration = try MiniLM.decodeJSON(
                path("sentence_bert_config.json"))
            if let length = sentenceConfiguration.maxSequenceLength {
                guard length >= 2 else {
                    throw EncoderError(
                        .invalidConfiguration, file: path("sentence_bert_config.json"),
                        "max_seq_length \(length) cannot hold [CLS] and [SEP]")
                }
                maxLength = min(maxLength, length)
            }
        }
        maxSequenceLength = maxLength

        do {
            tokenizer = try BertTokenizer(directory: directory)
        } catch {
            throw EncoderError(.invalidTokenizer, file: directory, error.message)
        }
        let largestID = tokenizer.wordPiece.vocabulary.values.max() ?? 0
        guard Int(largestID) < configuration.vocabularySize else {
            throw EncoderError(
                .invalidTokenizer, file: directory,
                "token id \(largestID) is outside the model's vocab_size \(configuration.vocabularySize)")
        }

        let weightsPath = path("model.safetensors")
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            throw EncoderError(
                .missingFile, file: weightsPath, "no model.safetensors (only safetensors weights are supported)")
        }
        let weights: SafetensorsFile
        do {
            weights = try SafetensorsFile(contentsOf: weightsPath)
        } catch {
            throw EncoderError(.invalidWeights, file: weightsPath, error.description)
        }
        model = try MiniLM.Model(configuration: configuration, weights: weights, precision: precision)
        self.precision = precision
        weightsDigest = try ModelDigest.digest(ofWeights: weightsPath)
        modelIdentifier = Self.identifier(directory: directory)
        workspaces = WorkspacePool(configuration: configuration)
        BLAS.setThreadCount(1)
    }

    /// An encoder with `base`'s tokenizer, configuration and pooling but other weights: a fine-tuned copy held in
    /// memory (restored from a router file), run by the same inference code at the same speed.
    ///
    /// - Parameters:
    ///   - weights: every encoder tensor under its checkpoint name (`embeddings.*`, `encoder.layer.*`).
    ///   - identifier: the name the copy reports (``modelIdentifier``); `weightsDigest` identifies its weights.
    ///   - maxSequenceLength: inputs are cut to this many tokens (at most `base`'s limit), as in training.
    ///   - normalizes: whether output vectors are L2-normalised; a regression head trained on the raw pooled
    ///     vector needs `false`.
    public init(
        replacingWeightsOf base: SentenceEncoder, with weights: InMemoryWeights, identifier: String,
        weightsDigest: String, maxSequenceLength: Int? = nil, normalizes: Bool = true
    ) throws(EncoderError) {
        directory = base.directory
        configuration = base.configuration
        var pooling = base.pooling
        pooling.normalizesOutput = normalizes
        self.pooling = pooling
        tokenizer = base.tokenizer
        self.maxSequenceLength = base.inputLimit(maxSequenceLength)
        self.weightsDigest = weightsDigest
        modelIdentifier = identifier
        precision = base.precision
        model = try MiniLM.Model(configuration: base.configuration, weights: weights, precision: base.precision)
        workspaces = WorkspacePool(configuration: base.configuration)
    }

    /// The longest input to tokenize to: `requested` (at least `[CLS]` and `[SEP]`), never more than
    /// ``maxSequenceLength``; ``maxSequenceLength`` when `nil`.
    func inputLimit(_ requested: Int?) -> Int {
        min(maxSequenceLength, max(2, requested ?? maxSequenceLength))
    }

    /// The model input ids of `text`: `[CLS] … [SEP]`, at most `maxSequenceLength` ids.
    public func tokenize(_ text: String) -> [Int32] {
        tokenizer.encode(text, maxLength: maxSequenceLength)
    }

    /// The embedding of one text (`dimension` values, L2-normalised), computed on the calling thread, its dense
    /// products split over the cores (``SpinningHelpers``).
    public func encode(_ text: String) -> [Float] {
        let ids = tokenize(text)
        let workspace = workspaces.take()
        defer { workspaces.give(workspace) }
        return [Float](unsafeUninitializedCapacity: dimension) { buffer, initialized in
            model.forward(
                [ids], pooling: pooling, workspace: workspace, pooled: buffer.baseAddress!,
                ways: Parallel.defaultWorkerCount)
            initialized = dimension
        }
    }

    /// The embeddings of `texts` as a `[texts.count, dimension]` matrix in input order, rows L2-normalised.
    ///
    /// Texts are sorted by token count and grouped into batches of up to `batchSize` so that similar lengths run
    /// together; batches run in parallel on all cores (one OpenBLAS thread each). `progress(done, total)` is
    /// called after each batch, from a worker thread.
    ///
    /// `maxLength` cuts inputs shorter than ``maxSequenceLength`` (to match a model trained on shorter inputs).
    public func encode(
        _ texts: [String], batchSize: Int = 64, maxLength: Int? = nil, progress: (@Sendable (Int, Int) -> Void)? = nil
    ) -> Matrix {
        encode(texts, layerMeans: [], batchSize: batchSize, maxLength: maxLength, progress: progress).embeddings
    }

    /// What one pass of the encoder yields for a batch of texts: the sentence embeddings and, for each tapped
    /// layer, the mean of its token states.
    public struct Encoding: Sendable {
        /// `[N, dimension]` sentence embeddings (rows L2-normalised unless the pooling turns it off).
        public var embeddings: Matrix
        /// Per requested layer, `[N, hiddenSize]` mean-pooled, L2-normalised token states after that layer.
        public var layerMeans: [Int: Matrix]

        public init(embeddings: Matrix, layerMeans: [Int: Matrix] = [:]) {
            self.embeddings = embeddings
            self.layerMeans = layerMeans
        }
    }

    /// Checks that every layer in `layers` can be tapped: 0 (the embedding output) through
    /// `configuration.layerCount` (the last layer).
    public func validate(layers: [Int]) throws(EncoderError) {
        for layer in layers where !(0...configuration.layerCount).contains(layer) {
            throw EncoderError(
                .invalidConfiguration, file: directory,
                "layer \(layer) is outside the encoder, which has layers 0 (embeddings) to \(configuration.layerCount)")
        }
    }

    /// The embeddings of `texts` (``encode(_:batchSize:maxLength:progress:)``) and, from the same forward pass,
    /// the mean-pooled, L2-normalised token states after each layer in `layerMeans` (0 is the embedding output;
    /// each must be at most `configuration.layerCount`).
    public func encode(
        _ texts: [String], layerMeans layers: [Int], batchSize: Int = 64, maxLength: Int? = nil,
        progress: (@Sendable (Int, Int) -> Void)? = nil
    ) -> Encoding {
        precondition(batchSize >= 1, "batch size must be at least 1, got \(batchSize)")
        let layers = Array(Set(layers)).sorted()
        precondition(
            layers.allSatisfy { (0...configuration.layerCount).contains($0) },
            "layers \(layers) outside 0...\(configuration.layerCount)")
        let count = texts.count
        let dimension = dimension
        let width = configuration.hiddenSize
        guard count > 0 else {
            return Encoding(
                embeddings: Matrix(rows: 0, columns: dimension),
                layerMeans: Dictionary(uniqueKeysWithValues: layers.map { ($0, Matrix(rows: 0, columns: width)) }))
        }
        let limit = inputLimit(maxLength)
        let tokenized = Parallel.map(count) { [self] index in tokenizer.encode(texts[index], maxLength: limit) }
        let order = (0..<count).sorted { (tokenized[$0].count, $0) < (tokenized[$1].count, $1) }
        let batches = stride(from: 0, to: count, by: batchSize).map { Array(order[$0..<min($0 + batchSize, count)]) }

        let output = SharedRows(rows: count, columns: dimension)
        let layerOutputs = layers.map { _ in SharedRows(rows: count, columns: width) }
        let nextBatch = Atomic<Int>(0)
        let finished = Atomic<Int>(0)
        let workers = max(1, min(Parallel.defaultWorkerCount, batches.count))
        // Fewer batches than cores (one prompt, a served request): each batch's dense products use the spare ones.
        let ways = max(1, Parallel.defaultWorkerCount / batches.count)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            let workspace = workspaces.take()
            defer { workspaces.give(workspace) }
            let pooled = UnsafeMutablePointer<Float>.allocate(capacity: batchSize * dimension)
            let layerPooled = layers.map { ($0, UnsafeMutablePointer<Float>.allocate(capacity: batchSize * width)) }
            defer {
                pooled.deallocate()
                for (_, buffer) in layerPooled { buffer.deallocate() }
            }
            while true {
                let batchIndex = nextBatch.wrappingAdd(1, ordering: .relaxed).oldValue
                guard batchIndex < batches.count else { break }
                let members = batches[batchIndex]
                model.forward(
                    members.map { tokenized[$0] }, pooling: pooling, workspace: workspace, pooled: pooled,
                    layerMeans: layerPooled.map { (layer: $0.0, into: $0.1) }, ways: ways)
                for (position, index) in members.enumerated() {
                    output.write(row: index, from: pooled + position * dimension)
                    for (slot, (_, buffer)) in layerPooled.enumerated() {
                        layerOutputs[slot].write(row: index, from: buffer + position * width)
                    }
                }
                let done = finished.wrappingAdd(members.count, ordering: .relaxed).newValue
                progress?(done, count)
            }
        }
        return Encoding(
            embeddings: Matrix(rows: count, columns: dimension, storage: output.values()),
            layerMeans: Dictionary(
                uniqueKeysWithValues: zip(layers, layerOutputs).map { layer, rows in
                    (layer, Matrix(rows: count, columns: width, storage: rows.values()))
                }))
    }

    // MARK: - Loading helpers

    private static func loadPooling(
        directory: String, hiddenSize: Int
    ) throws(EncoderError) -> MiniLM.PoolingConfiguration {
        var folder = "1_Pooling"
        let modulesPath = (directory as NSString).appendingPathComponent("modules.json")
        if let data = FileManager.default.contents(atPath: modulesPath),
            let modules = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]],
            let entry = modules.first(where: { ($0["type"] as? String)?.hasSuffix(".Pooling") == true }),
            let path = entry["path"] as? String
        {
            folder = path
        }
        let path = ((directory as NSString).appendingPathComponent(folder) as NSString)
            .appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: path) else {
            return MiniLM.PoolingConfiguration(meanOver: hiddenSize)
        }
        let pooling: MiniLM.PoolingConfiguration = try MiniLM.decodeJSON(path)
        guard pooling.wordEmbeddingDimension == hiddenSize, pooling.modeCount > 0 else {
            throw EncoderError(
                .invalidConfiguration, file: path,
                "word_embedding_dimension \(pooling.wordEmbeddingDimension) must equal hidden_size \(hiddenSize) "
                    + "and at least one pooling mode must be on")
        }
        return pooling
    }

    /// The folder's name, or, for a generic name such as `model`, the title of its README (`# all-MiniLM-L6-v2`).
    private static func identifier(directory: String) -> String {
        let name = ((directory as NSString).standardizingPath as NSString).lastPathComponent
        let generic = ["model", "models", "0_transformer", "transformer", "", ".", "/"]
        guard generic.contains(name.lowercased()) else { return name }
        let readme = (directory as NSString).appendingPathComponent("README.md")
        if let text = try? String(contentsOfFile: readme, encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("# ") {
                let title = line.dropFirst(2).trimmingCharacters(in: .whitespaces)
                if !title.isEmpty && !title.contains(" ") { return title }
            }
        }
        return name
    }
}

/// Scratch workspaces for forward passes, handed to one thread at a time.
private final class WorkspacePool: Sendable {
    private let configuration: MiniLM.Configuration
    private let idle = Mutex<[MiniLM.Workspace]>([])

    init(configuration: MiniLM.Configuration) { self.configuration = configuration }

    func take() -> MiniLM.Workspace {
        idle.withLock { $0.popLast() } ?? MiniLM.Workspace(configuration: configuration)
    }

    func give(_ workspace: MiniLM.Workspace) {
        idle.withLock { $0.append(workspace) }
    }
}

/// An output matrix that worker threads fill row by row.
private final class SharedRows: @unchecked Sendable {
    // Safe: each row is written by exactly one worker (every input index belongs to one batch), and the values
    // are read only after `concurrentPerform` has returned, i.e. after every writer finished.
    private let storage: UnsafeMutablePointer<Float>
    private let rows: Int
    private let columns: Int

    init(rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
        storage = .allocate(capacity: rows * columns)
        storage.initialize(repeating: 0, count: rows * columns)
    }

    deinit { storage.deallocate() }

    func write(row: Int, from source: UnsafePointer<Float>) {
        precondition(row >= 0 && row < rows, "row \(row) out of range")
        (storage + row * columns).update(from: source, count: columns)
    }

    func values() -> [Float] { Array(UnsafeBufferPointer(start: storage, count: rows * columns)) }
}
