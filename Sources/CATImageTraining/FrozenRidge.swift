import CATImageCore

/// Multi-output ridge regression on frozen sentence embeddings, the partner of the fine-tuned model in the
/// ensemble: `W = (XᵀX + αI)⁻¹ XᵀY` on centred features, with an intercept, in Float64.
public struct FrozenRidge: Sendable, Equatable {
    /// Regularisation strength.
    public let alpha: Double
    /// Feature means `[D]`.
    public let featureMeans: [Double]
    /// Weights `[D, M]` row-major.
    public let weights: [Double]
    /// Intercept `[M]` (the target means).
    public let intercept: [Double]

    /// Fits on features `[N, D]` (row-major Float32) and targets `[N][M]`.
    public init(features: [Float], dimension d: Int, targets: [[Double]], alpha: Double) throws(FineTuneError) {
        let n = targets.count
        precondition(n > 0 && features.count == n * d, "ridge: \(features.count) features for \(n)×\(d)")
        let m = targets[0].count
        var means = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { means[j] += Double(features[i * d + j]) / Double(n) } }
        var x = [Double](repeating: 0, count: n * d)
        for i in 0..<n { for j in 0..<d { x[i * d + j] = Double(features[i * d + j]) - means[j] } }
        var targetMeans = [Double](repeating: 0, count: m)
        for row in targets { for k in 0..<m { targetMeans[k] += row[k] / Double(n) } }
        var y = [Double](repeating: 0, count: n * m)
        for i in 0..<n { for k in 0..<m { y[i * m + k] = targets[i][k] - targetMeans[k] } }
        do {
            weights = try RidgeSolver.solve(
                centredFeatures: x, rows: n, columns: d, targets: y, outputs: m, alpha: alpha)
        } catch {
            throw FineTuneError("ridge(alpha=\(alpha)) on frozen embeddings could not be solved: \(error)")
        }
        self.alpha = alpha
        featureMeans = means
        intercept = targetMeans
    }

    /// A ridge model from stored values.
    public init(alpha: Double, featureMeans: [Double], weights: [Double], intercept: [Double]) {
        precondition(weights.count == featureMeans.count * intercept.count, "ridge shapes disagree")
        self.alpha = alpha
        self.featureMeans = featureMeans
        self.weights = weights
        self.intercept = intercept
    }

    /// Predictions `[N][M]` for features `[N, D]`.
    public func predict(features: [Float]) -> [[Double]] {
        let d = featureMeans.count
        let m = intercept.count
        let n = features.count / max(1, d)
        return (0..<n).map { i in
            var row = intercept
            for j in 0..<d {
                let x = Double(features[i * d + j]) - featureMeans[j]
                for k in 0..<m { row[k] += x * weights[j * m + k] }
            }
            return row
        }
    }
}
