/// The regression head on the pooled sentence vector: one output per generator.
public struct RegressionHeadConfig: Sendable, Equatable, Codable {
    /// Number of outputs (generators).
    public var outputCount: Int
    /// Width of the hidden GELU layer, or 0 for a linear head.
    public var hiddenSize: Int
    /// Whether the pooled vector is L2-normalised before the head (as the sentence encoder does).
    public var normalizesEmbedding: Bool

    /// A head configuration.
    public init(outputCount: Int, hiddenSize: Int = 0, normalizesEmbedding: Bool = false) {
        precondition(outputCount > 0 && hiddenSize >= 0, "head sizes must be positive")
        self.outputCount = outputCount
        self.hiddenSize = hiddenSize
        self.normalizesEmbedding = normalizesEmbedding
    }
}
