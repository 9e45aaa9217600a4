/// What the head learns to predict.
public enum TargetKind: String, Sendable, Codable, CaseIterable {
    /// Each generator's quality, standardized per generator.
    case absolute
    /// Each generator's quality minus the prompt's mean over generators, standardized per generator: what
    /// routing needs is the difference between generators, not how good the prompt is for all of them.
    case relative
}

/// Turns qualities `[M]` into standardized targets and predictions back into qualities.
///
/// For the relative target the prompt's mean is unknown at prediction time; the training set's mean quality is
/// added back instead. The routing rule is unchanged by adding one constant to every generator of a prompt.
public struct TargetScaler: Sendable, Equatable, Codable {
    /// The target kind.
    public let kind: TargetKind
    /// Per-generator mean of the (relative) quality on the training set.
    public let means: [Double]
    /// Per-generator standard deviation (at least 1e-12).
    public let scales: [Double]
    /// Added back by ``quality(fromTarget:)`` (the training set's mean quality, relative target only).
    public let offset: Double

    /// Fits the scaler on the qualities `[N][M]` of the training prompts.
    public init(kind: TargetKind, quality: [[Double]]) {
        precondition(!quality.isEmpty, "need at least one prompt to fit target scaling")
        self.kind = kind
        let m = quality[0].count
        let rows = quality.map { Self.raw(kind, $0) }
        let n = Double(rows.count)
        var means = [Double](repeating: 0, count: m)
        for row in rows { for j in 0..<m { means[j] += row[j] / n } }
        var scales = [Double](repeating: 0, count: m)
        for row in rows { for j in 0..<m { scales[j] += (row[j] - means[j]) * (row[j] - means[j]) / n } }
        self.means = means
        self.scales = scales.map { max($0.squareRoot(), 1e-12) }
        offset = kind == .relative ? quality.map { $0.reduce(0, +) / Double(m) }.reduce(0, +) / n : 0
    }

    /// A scaler from stored values.
    public init(kind: TargetKind, means: [Double], scales: [Double], offset: Double) {
        self.kind = kind
        self.means = means
        self.scales = scales
        self.offset = offset
    }

    private static func raw(_ kind: TargetKind, _ row: [Double]) -> [Double] {
        guard kind == .relative else { return row }
        let mean = row.reduce(0, +) / Double(row.count)
        return row.map { $0 - mean }
    }

    /// The standardized target of one prompt's qualities.
    public func target(fromQuality row: [Double]) -> [Double] {
        let r = Self.raw(kind, row)
        return r.indices.map { (r[$0] - means[$0]) / scales[$0] }
    }

    /// Qualities (up to a per-prompt constant for the relative target) from a standardized prediction.
    public func quality(fromTarget z: [Double]) -> [Double] {
        z.indices.map { z[$0] * scales[$0] + means[$0] + offset }
    }
}
