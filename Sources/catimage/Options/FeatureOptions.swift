import ArgumentParser
import CATImage
import CATImageCore
import CATImageEncoder
import Foundation

/// Where prompt features come from: the MiniLM encoder (through the embedding cache), or a `.npy` file.
struct FeatureOptions: ParsableArguments {
    @OptionGroup var modelFolder: ModelOptions

    @Option(help: "Embedding cache folder (default: ~/.cache/catimage/embeddings).")
    var cacheDir: String?

    @Option(help: "Precomputed features: a float32 .npy [prompts, dims] in dataset order (evaluate only).")
    var embeddings: String?

    /// Features for every prompt of `dataset`, with progress on standard error (a bar on a terminal).
    func features(for dataset: RoutingDataset) throws -> Matrix {
        if let embeddings {
            let matrix = try Matrix.readNumpy(contentsOf: embeddings)
            guard matrix.rows == dataset.promptCount else {
                throw CommandFailure("\(embeddings) has \(matrix.rows) rows for \(dataset.promptCount) prompts")
            }
            return matrix
        }
        let encoder = try PromptEmbedding.loadEncoder(modelDirectory: modelFolder.directory)
        return try Self.embed(dataset.prompts.map(\.text), encoder: encoder, cacheDirectory: cacheDir)
    }

    /// Embeddings through the cache: a bar with rate and time left on a terminal, one plain line when piped.
    static func embed(
        _ prompts: [String], encoder: SentenceEncoder, cacheDirectory: String?, quiet: Bool = false
    ) throws -> Matrix {
        let bar = ProgressBar(label: "embedding", unit: "prompts", enabled: !quiet)
        let started = Date()
        let matrix = try EmbeddingCache(directory: cacheDirectory).embeddings(for: prompts, encoder: encoder) {
            done, total in bar.update(done, total)
        }
        bar.finish()
        if !bar.isDrawn && !quiet {
            Terminal.printError(
                String(format: "embedded %d prompts in %.1f s", prompts.count, Date().timeIntervalSince(started)))
        }
        return matrix
    }
}
