import ArgumentParser
import CATImageEncoder

/// The sentence-encoder folder, named `--model-dir` by every command (`--model` and `--dir`, the names some
/// commands used before, are kept as hidden aliases).
struct ModelOptions: ParsableArguments {
    @Option(
        help: "Sentence-encoder folder (default: $CATIMAGE_MODEL_DIR or ~/.cache/catimage/models/all-MiniLM-L6-v2).")
    var modelDir: String?

    @Option(name: .customLong("model"), help: .hidden)
    var modelAlias: String?

    @Option(name: .customLong("dir"), help: .hidden)
    var dirAlias: String?

    func validate() throws {
        if [modelDir, modelAlias, dirAlias].compactMap({ $0 }).count > 1 {
            throw ValidationError("give the model folder once, with --model-dir")
        }
    }

    /// The folder given, or `nil` for the default.
    var directory: String? { modelDir ?? modelAlias ?? dirAlias }

    /// The folder given, or the default one.
    var resolvedDirectory: String { directory ?? ModelStore.defaultModelDirectory }
}
