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

    /// What `specs` read of every prompt of `dataset`: the features (`nil` when they read neither features nor
    /// layers) and the layer means, from one encoder pass through the cache, with progress on standard error (a
    /// bar on a terminal). Features from `--embeddings` come without layer means: an estimator that needs one is
    /// refused, `auto` leaves out the candidates that read one.
    func features(
        for dataset: RoutingDataset, specs: [EstimatorSpec]
    ) throws -> (features: Matrix?, layerMeans: [Int: Matrix]) {
        let parts = specs.reduce(into: EstimatorInputs()) { $0.formUnion($1.reads) }
        let layers = parts.layers
        guard parts.runsEncoder else { return (nil, [:]) }
        if let embeddings {
            if let spec = specs.first(where: { spec in
                if case .auto = spec { return false }
                return !spec.reads.layers.isEmpty
            }) {
                throw CommandFailure(
                    "\(spec) reads encoder layer \(spec.reads.layers[0]), which --embeddings cannot give; leave "
                        + "--embeddings out to embed with the encoder")
            }
            let matrix = try Matrix.readNumpy(contentsOf: embeddings)
            guard matrix.rows == dataset.promptCount else {
                throw CommandFailure("\(embeddings) has \(matrix.rows) rows for \(dataset.promptCount) prompts")
            }
            return (matrix, [:])
        }
        let encoder = try PromptEmbedding.loadEncoder(modelDirectory: modelFolder.directory)
        let encoding = try Self.embed(
            dataset.prompts.map(\.text), layerMeans: layers, encoder: encoder, cacheDirectory: cacheDir)
        return (encoding.embeddings, encoding.layerMeans)
    }

    /// Embeddings through the cache: a bar with rate and time left on a terminal, one plain line when piped.
    static func embed(
        _ prompts: [String], encoder: SentenceEncoder, cacheDirectory: String?, quiet: Bool = false
    ) throws -> Matrix {
        try embed(prompts, layerMeans: [], encoder: encoder, cacheDirectory: cacheDirectory, quiet: quiet).embeddings
    }

    /// Embeddings and the means of `layerMeans` through the cache, with the same progress display.
    static func embed(
        _ prompts: [String], layerMeans: [Int], encoder: SentenceEncoder, cacheDirectory: String?, quiet: Bool = false
    ) throws -> SentenceEncoder.Encoding {
        let bar = ProgressBar(label: "embedding", unit: "prompts", enabled: !quiet)
        let started = Date()
        let matrix = try EmbeddingCache(directory: cacheDirectory).encodings(
            for: prompts, encoder: encoder, layerMeans: layerMeans
        ) { done, total in bar.update(done, total) }
        bar.finish()
        if !bar.isDrawn && !quiet {
            Terminal.printError(
                String(format: "embedded %d prompts in %.1f s", prompts.count, Date().timeIntervalSince(started)))
        }
        return matrix
    }
}
