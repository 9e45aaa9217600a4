import CATImageCore
import Foundation

/// An on-disk cache of sentence embeddings keyed by (model weights digest and precision, prompt text), so that a
/// dataset is embedded once and reused by training and evaluation.
///
/// Layout: `<directory>/<weights digest>[-bf16]/<uuid>.safetensors` (a tapped layer's means in
/// `<weights digest>[-bf16]-mean<layer>/`), each chunk holding a tensor `embeddings`
/// `[n, dimension]` and, in its metadata, `keys`: a JSON list of the SHA-256 of each prompt's UTF-8 text. Chunks
/// are written atomically and never modified, so several processes may share one cache folder.
public struct EmbeddingCache: Sendable {
    /// The cache folder.
    public let directory: String

    /// The environment variable that overrides the default cache folder.
    public static let environmentVariable = "CATIMAGE_EMBEDDING_CACHE"

    /// A cache in `directory`, by default `$CATIMAGE_EMBEDDING_CACHE` or `~/.cache/catimage/embeddings`.
    public init(directory: String? = nil) {
        if let directory {
            self.directory = directory
        } else if let path = ProcessInfo.processInfo.environment[Self.environmentVariable], !path.isEmpty {
            self.directory = path
        } else {
            let cache =
                ProcessInfo.processInfo.environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
                ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache")
            self.directory = (cache as NSString).appendingPathComponent("catimage/embeddings")
        }
    }

    /// The embeddings of `texts` (`[texts.count, dimension]`, input order): cached rows are read back, the rest
    /// are computed with `encoder` and stored. `progress(done, total)` counts texts, cached ones included.
    public func embeddings(
        for texts: [String], encoder: SentenceEncoder, progress: (@Sendable (Int, Int) -> Void)? = nil
    ) throws(EncoderError) -> Matrix {
        try encodings(for: texts, encoder: encoder, layerMeans: [], progress: progress).embeddings
    }

    /// The embeddings of `texts` and their mean-pooled layers `layerMeans` (``SentenceEncoder/Encoding``), each
    /// cached on its own (a layer in `<weights digest>[-bf16]-mean<layer>/`): a text missing from any of them runs
    /// through the encoder once, which fills all of them.
    public func encodings(
        for texts: [String], encoder: SentenceEncoder, layerMeans: [Int],
        progress: (@Sendable (Int, Int) -> Void)? = nil
    ) throws(EncoderError) -> SentenceEncoder.Encoding {
        try encoder.validate(layers: layerMeans)
        let layers = Array(Set(layerMeans)).sorted()
        let views: [(layer: Int?, folder: String, dimension: Int)] =
            [(nil, encoder.embeddingIdentity, encoder.dimension)]
            + layers.map { ($0, "\(encoder.embeddingIdentity)-mean\($0)", encoder.configuration.hiddenSize) }
        var known: [[String: [Float]]] = []
        for view in views {
            known.append(
                try loadChunks(
                    folder: (directory as NSString).appendingPathComponent(view.folder), dimension: view.dimension))
        }
        let keys = texts.map { Self.key(for: $0) }

        var missing: [Int] = []
        var seen = Set<String>()
        for (index, key) in keys.enumerated()
        where known.contains(where: { $0[key] == nil }) && seen.insert(key).inserted {
            missing.append(index)
        }
        let cachedCount = texts.count - missing.count
        progress?(cachedCount, texts.count)
        if !missing.isEmpty {
            let computed = encoder.encode(missing.map { texts[$0] }, layerMeans: layers) { done, _ in
                progress?(cachedCount + done, texts.count)
            }
            for (slot, view) in views.enumerated() {
                let values = view.layer.map { computed.layerMeans[$0]! } ?? computed.embeddings
                let fresh = missing.indices.filter { known[slot][keys[missing[$0]]] == nil }
                guard !fresh.isEmpty else { continue }
                for row in fresh { known[slot][keys[missing[row]]] = values.row(row) }
                try storeChunk(
                    folder: (directory as NSString).appendingPathComponent(view.folder),
                    keys: fresh.map { keys[missing[$0]] }, values: values.rows(at: fresh),
                    modelIdentifier: encoder.modelIdentifier)
            }
        }
        var matrices: [Matrix] = []
        for (slot, view) in views.enumerated() {
            var storage: [Float] = []
            storage.reserveCapacity(texts.count * view.dimension)
            for key in keys {
                guard let row = known[slot][key] else {
                    preconditionFailure("embedding for a text was neither cached nor computed")
                }
                storage.append(contentsOf: row)
            }
            matrices.append(Matrix(rows: texts.count, columns: view.dimension, storage: storage))
        }
        return SentenceEncoder.Encoding(
            embeddings: matrices[0],
            layerMeans: Dictionary(uniqueKeysWithValues: zip(layers, matrices.dropFirst()).map { ($0, $1) }))
    }

    /// Number of cached embeddings for the weights `digest`.
    public func count(forWeightsDigest digest: String, dimension: Int) throws(EncoderError) -> Int {
        try loadChunks(folder: (directory as NSString).appendingPathComponent(digest), dimension: dimension).count
    }

    /// The cache key of a prompt: the hex SHA-256 of its UTF-8 bytes (exact text; no normalisation).
    static func key(for text: String) -> String {
        SHA256.hexDigest(of: Array(text.utf8))
    }

    private func loadChunks(folder: String, dimension: Int) throws(EncoderError) -> [String: [Float]] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [:] }
        var rows: [String: [Float]] = [:]
        for name in names.sorted() where name.hasSuffix(".safetensors") {
            let path = (folder as NSString).appendingPathComponent(name)
            let chunk: SafetensorsFile
            let matrix: Matrix
            do {
                chunk = try SafetensorsFile(contentsOf: path)
                matrix = try chunk.matrix(named: "embeddings")
            } catch {
                throw EncoderError(
                    .cacheFailure, file: path, "unreadable cache chunk (\(error.message)); delete it to rebuild")
            }
            guard let keyText = chunk.metadata["keys"],
                let keys = try? JSONDecoder().decode([String].self, from: Data(keyText.utf8)),
                keys.count == matrix.rows, matrix.columns == dimension
            else {
                throw EncoderError(
                    .cacheFailure, file: path,
                    "cache chunk keys or shape \(matrix.shape) do not fit dimension \(dimension); delete it to rebuild")
            }
            for (row, key) in keys.enumerated() { rows[key] = matrix.row(row) }
        }
        return rows
    }

    private func storeChunk(
        folder: String, keys: [String], values: Matrix, modelIdentifier: String
    ) throws(EncoderError) {
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw EncoderError(
                .cacheFailure, file: folder, "cannot create the cache folder: \(error.localizedDescription)")
        }
        let keyData: Data
        do {
            keyData = try JSONEncoder().encode(keys)
        } catch {
            throw EncoderError(.cacheFailure, file: folder, "cannot encode cache keys: \(error)")
        }
        let path = (folder as NSString).appendingPathComponent("\(UUID().uuidString).safetensors")
        do {
            try SafetensorsWriter.write(
                tensors: ["embeddings": SafetensorsTensor(values)],
                metadata: ["keys": String(decoding: keyData, as: UTF8.self), "model": modelIdentifier], to: path)
        } catch {
            throw EncoderError(.cacheFailure, file: path, "cannot write a cache chunk: \(error.message)")
        }
    }
}
