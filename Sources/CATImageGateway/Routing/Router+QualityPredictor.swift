import CATImage
import CATImageCore
import CATImageEncoder

extension Router: QualityPredictor {
    public var generatorNames: [String] { generators.map(\.name) }
    public var generatorCosts: [Double] { costs }
}

/// The MiniLM sentence encoder as a router's prompt encoder.
public struct SentencePromptEncoder: PromptEncoder {
    public let encoder: SentenceEncoder

    public init(_ encoder: SentenceEncoder) { self.encoder = encoder }

    public var modelIdentifier: String { encoder.modelIdentifier }
    public var weightsDigest: String { encoder.weightsDigest }
    public func embed(_ prompts: [String]) -> Matrix { encoder.encode(prompts) }
}

extension Gateway {
    /// Loads a router file with the MiniLM encoder from `modelDirectory` (default: `$CATIMAGE_MODEL_DIR`, else
    /// `~/.cache/catimage/models/all-MiniLM-L6-v2`).
    public static func loadRouter(contentsOf path: String, modelDirectory: String? = nil) throws -> Router {
        let directory = modelDirectory ?? ModelStore.defaultModelDirectory
        let encoder = try SentenceEncoder(directory: directory)
        return try Router.load(contentsOf: path, encoder: SentencePromptEncoder(encoder))
    }
}
