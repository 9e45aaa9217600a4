import ArgumentParser
import CATImageCore
import CATImageEncoder
import Foundation

/// `catimage embed`: prompts in, a NumPy float32 matrix of sentence embeddings out.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed prompts with the MiniLM sentence encoder and write a NumPy .npy float32 array [N, 384].",
        discussion: """
            The input is a text file with one prompt per line (a final newline does not add an empty prompt), \
            or JSON Lines (.jsonl) whose objects have a "prompt" string, so prompts may hold newlines. Rows of \
            the output follow the input order. Embeddings are cached on disk by (model weights digest, prompt) \
            unless --no-cache is given, so embedding a dataset twice costs one run.

            Examples:
              catimage embed --input prompts.txt --output prompts.npy
              catimage embed --model-dir ~/.cache/catimage/models/all-MiniLM-L6-v2 \\
                --input data.jsonl --output data.npy --json
              catimage embed --input prompts.txt --output layer4.npy --layer 4
              python3 -c "import numpy; print(numpy.load('prompts.npy').shape)"

            --layer L writes instead the mean-pooled, L2-normalised token states after encoder layer L (0 is the \
            embedding output, 6 the last of all-MiniLM-L6-v2), from the same pass: what `krr:layer=L` reads.
            """
    )

    @OptionGroup var modelFolder: ModelOptions

    @Option(help: "Prompts: a text file (one per line) or .jsonl with a \"prompt\" field.")
    var input: String

    @Option(help: "Where to write the .npy array.")
    var output: String

    @Option(help: "Prompts per forward pass.")
    var batchSize = 64

    @Option(help: "Embedding cache folder (default: $CATIMAGE_EMBEDDING_CACHE or ~/.cache/catimage/embeddings).")
    var cacheDir: String?

    @Option(help: "Write the mean-pooled states after this encoder layer instead of the sentence embedding.")
    var layer: Int?

    @Flag(help: "Compute every embedding and neither read nor write the cache.")
    var noCache = false

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        guard output.hasSuffix(".npy") else { throw ValidationError("--output must end in .npy, got '\(output)'") }
    }

    func run() throws {
        let prompts = try PromptFile.read(input)
        let directory = modelFolder.resolvedDirectory
        let encoder = try SentenceEncoder(directory: directory)
        let layers = layer.map { [$0] } ?? []
        try encoder.validate(layers: layers)
        let bar = ProgressBar(label: "embedding", unit: "prompts", enabled: !json)
        let start = DispatchTime.now()
        let encoding: SentenceEncoder.Encoding
        if noCache {
            encoding = encoder.encode(prompts, layerMeans: layers, batchSize: batchSize) { done, total in
                bar.update(done, total)
            }
        } else {
            encoding = try EmbeddingCache(directory: cacheDir).encodings(
                for: prompts, encoder: encoder, layerMeans: layers
            ) { done, total in bar.update(done, total) }
        }
        let matrix = layer.flatMap { encoding.layerMeans[$0] } ?? encoding.embeddings
        bar.finish()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        try NumPyArray.write(matrix, to: output)
        let summary = EmbedSummary(
            input: input, output: output, prompts: matrix.rows, dimension: matrix.columns, layer: layer,
            model: encoder.modelIdentifier, weightsDigest: encoder.weightsDigest, seconds: seconds)
        if json {
            try JSONOutput.print(summary)
        } else {
            print(
                "wrote \(Terminal.bold(output)): \(matrix.rows) × \(matrix.columns) float32"
                    + (layer.map { " means of layer \($0)" } ?? "") + " "
                    + "(\(encoder.modelIdentifier), \(Format.fixed(seconds, 2)) s)")
        }
    }
}

/// What `catimage embed --json` prints.
struct EmbedSummary: Encodable {
    let input: String
    let output: String
    let prompts: Int
    let dimension: Int
    /// The encoder layer written (`nil`: the sentence embedding).
    let layer: Int?
    let model: String
    let weightsDigest: String
    let seconds: Double
}

/// Reads prompt files: plain text (one prompt per line) or JSON Lines with a `prompt` field.
enum PromptFile {
    static func read(_ path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read the input file '\(path)'")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ValidationError("\(path): not valid UTF-8")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        if lines.last == "" { lines.removeLast() }
        guard path.hasSuffix(".jsonl") else { return lines }
        var prompts: [String] = []
        for (number, line) in lines.enumerated() {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard let object else {
                throw ValidationError("\(path):\(number + 1): not a JSON object (value: \(line.prefix(80)))")
            }
            guard let prompt = object["prompt"] as? String else {
                throw ValidationError("\(path):\(number + 1): no \"prompt\" string field")
            }
            prompts.append(prompt)
        }
        return prompts
    }
}
