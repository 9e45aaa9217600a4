import CATImageCore
import CATImageEncoder
import Foundation
import Synchronization

extension SentenceEncoder: PromptEncoder {
    /// The prompts' sentence embeddings `[N, dimension]`, L2-normalised.
    public func embed(_ prompts: [String]) -> Matrix { encode(prompts) }

    /// Layers 0 (the embedding output) through the last.
    public var tappableLayers: ClosedRange<Int>? { 0...configuration.layerCount }

    /// The sentence embeddings and the requested layers' means from one forward pass.
    public func embed(_ prompts: [String], layerMeans: [Int]) -> (features: Matrix, layerMeans: [Int: Matrix]) {
        let encoding = encode(prompts, layerMeans: layerMeans)
        return (encoding.embeddings, encoding.layerMeans)
    }
}

/// Loading the sentence encoder and embedding prompts through the on-disk embedding cache.
public enum PromptEmbedding {
    /// The sentence encoder in `modelDirectory` (default: `$CATIMAGE_MODEL_DIR`, else
    /// `~/.cache/catimage/models/all-MiniLM-L6-v2`) at `precision` (default: `$CATIMAGE_ENCODER_PRECISION`, else fp32).
    public static func loadEncoder(
        modelDirectory: String? = nil, precision: MiniLM.Precision? = nil
    ) throws -> SentenceEncoder {
        try SentenceEncoder(directory: modelDirectory ?? ModelStore.defaultModelDirectory, precision: precision)
    }

    /// Embeddings of `prompts` `[N, D]`: cached rows are read back, the rest computed and stored, so a dataset
    /// is embedded once. `progress` receives lines such as `embedding: 4096/10000 prompts`.
    public static func embed(
        _ prompts: [String], encoder: SentenceEncoder, cacheDirectory: String? = nil,
        progress: (@Sendable (String) -> Void)? = nil
    ) throws -> Matrix {
        try embed(prompts, layerMeans: [], encoder: encoder, cacheDirectory: cacheDirectory, progress: progress)
            .embeddings
    }

    /// Embeddings and layer means of `prompts` through the cache (``EmbeddingCache/encodings(for:encoder:layerMeans:progress:)``).
    public static func embed(
        _ prompts: [String], layerMeans: [Int], encoder: SentenceEncoder, cacheDirectory: String? = nil,
        progress: (@Sendable (String) -> Void)? = nil
    ) throws -> SentenceEncoder.Encoding {
        let cache = EmbeddingCache(directory: cacheDirectory)
        let step = max(1, prompts.count / 10)
        let reported = Mutex<Int>(-1)
        return try cache.encodings(for: prompts, encoder: encoder, layerMeans: layerMeans) { done, total in
            guard let progress else { return }
            let bucket = done == total ? Int.max : done / step
            let isNew = reported.withLock { last in
                defer { last = max(last, bucket) }
                return bucket > last
            }
            if isNew { progress("embedding: \(done)/\(total) prompts") }
        }
    }
}

extension Router {
    /// Loads a router file and the sentence encoder from `modelDirectory` (default: `$CATIMAGE_MODEL_DIR`, else
    /// `~/.cache/catimage/models/all-MiniLM-L6-v2`); a file trained with other encoder weights, a file of a newer
    /// format version, or a corrupt file is a ``RouterFileError``.
    ///
    /// - Parameter precision: the encoder's arithmetic (default: `$CATIMAGE_ENCODER_PRECISION`, else fp32).
    public static func load(
        contentsOf path: String, modelDirectory: String? = nil, precision: MiniLM.Precision? = nil
    ) throws -> Router {
        _ = try readConfig(contentsOf: path)  // fail on a bad file before spending time loading the encoder
        return try load(
            contentsOf: path,
            encoder: PromptEmbedding.loadEncoder(modelDirectory: modelDirectory, precision: precision))
    }
}
