import CATImage
import CATImageCore
import CATImageEncoder

extension Router: QualityPredictor {
    public var generatorNames: [String] { generators.map(\.name) }
    public var generatorCosts: [Double] { costs }
}

extension Gateway {
    /// Loads a router file with the MiniLM encoder from `modelDirectory` (default: `$CATIMAGE_MODEL_DIR`, else
    /// `~/.cache/catimage/models/all-MiniLM-L6-v2`); a Transformer router builds its fine-tuned encoder over it.
    public static func loadRouter(
        contentsOf path: String, modelDirectory: String? = nil, precision: MiniLM.Precision? = nil
    ) throws -> Router {
        try Router.load(contentsOf: path, modelDirectory: modelDirectory, precision: precision)
    }
}
