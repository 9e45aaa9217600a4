/// What a regressor learns to predict from a prompt's qualities.
public enum TargetKind: String, Sendable, Codable, CaseIterable {
    /// Each generator's quality, standardized per generator.
    case absolute
    /// Each generator's quality minus the prompt's mean over generators, standardized per generator: what
    /// routing needs is the difference between generators, not how good the prompt is for all of them.
    case relative
}

/// Per-generator standardization of quality targets, and its inverse: the one target scaling of every
/// regressor (ridge, MLP, the fine-tuned Transformer).
///
/// For the relative target the prompt's mean is unknown at prediction time; the training set's mean quality is
/// added back instead (``offset``). The routing rule is unchanged by adding one constant to every generator of a
/// prompt.
public struct TargetScaling: Sendable, Equatable, Codable {
    /// The target kind.
    public let kind: TargetKind
    /// Per-generator mean of the (relative) quality on the training set.
    public let means: [Double]
    /// Per-generator standard deviation; 1 for a constant column, so standardizing never divides by zero.
    public let scales: [Double]
    /// Added back by ``quality(fromTarget:)``: the training set's mean quality (relative target), else 0.
    public let offset: Double

    /// A scaling from stored values.
    public init(kind: TargetKind = .absolute, means: [Double], scales: [Double], offset: Double = 0) {
        precondition(means.count == scales.count, "\(means.count) means for \(scales.count) scales")
        self.kind = kind
        self.means = means
        self.scales = scales
        self.offset = offset
    }

    /// Fits the scaling on the qualities `[N][M]` of the training prompts, in Float64.
    public init(kind: TargetKind = .absolute, quality: [[Double]]) {
        let m = quality.first?.count ?? 0
        let n = Double(max(1, quality.count))
        let rows = quality.map { Self.raw(kind, $0) }
        let means = rows.columnMeans(width: m)
        var variances = [Double](repeating: 0, count: m)
        for row in rows { for c in 0..<m { variances[c] += (row[c] - means[c]) * (row[c] - means[c]) } }
        let offset =
            kind == .relative ? quality.map { $0.reduce(0, +) / Double(max(1, m)) }.reduce(0, +) / n : 0
        self.init(
            kind: kind, means: means,
            scales: variances.map {
                let s = ($0 / n).squareRoot()
                return s > 1e-12 ? s : 1
            }, offset: offset)
    }

    /// The same scaling rounded to Float32, the precision of router files: an estimator fitted with it predicts
    /// exactly what the one restored from its file predicts.
    public func roundedToFloat32() -> TargetScaling {
        TargetScaling(
            kind: kind, means: means.map { Double(Float($0)) }, scales: scales.map { Double(Float($0)) },
            offset: Double(Float(offset)))
    }

    private static func raw(_ kind: TargetKind, _ row: [Double]) -> [Double] {
        guard kind == .relative, !row.isEmpty else { return row }
        let mean = row.reduce(0, +) / Double(row.count)
        return row.map { $0 - mean }
    }

    /// The standardized target of one prompt's qualities.
    public func target(fromQuality row: [Double]) -> [Double] {
        let r = Self.raw(kind, row)
        return r.indices.map { (r[$0] - means[$0]) / scales[$0] }
    }

    /// The standardized targets of many prompts' qualities `[N][M]`.
    public func targets(fromQualities rows: [[Double]]) -> [[Double]] { rows.map(target(fromQuality:)) }

    /// Qualities (up to a per-prompt constant for the relative target) from a standardized prediction.
    public func quality(fromTarget z: [Double]) -> [Double] {
        z.indices.map { z[$0] * scales[$0] + means[$0] + offset }
    }
}
