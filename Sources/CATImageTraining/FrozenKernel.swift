import CATImageCore
import Foundation

/// The similarity kernel on frozen sentence embeddings, the other ensemble partner: every training prompt
/// weighted by `exp(cos/τ)` (a soft nearest-neighbour average of its standardized targets).
public struct FrozenKernel: Sendable, Equatable {
    /// Kernel width.
    public let tau: Double
    /// Training embeddings `[N, D]` (L2-normalised), row-major.
    public let features: [Float]
    /// Training targets `[N, M]`, row-major.
    public let targets: [Float]
    /// Embedding width.
    public let dimension: Int

    /// A kernel over the training embeddings `[N, D]` and targets `[N][M]`.
    public init(features: [Float], dimension: Int, targets: [[Double]], tau: Double) {
        precondition(tau > 0 && dimension > 0 && features.count == targets.count * dimension, "kernel shapes")
        self.tau = tau
        self.features = features
        self.dimension = dimension
        self.targets = targets.flatMap { $0.map { Float($0) } }
    }

    /// A kernel from stored values (`targets` `[N, M]` flattened).
    public init(tau: Double, features: [Float], dimension: Int, targets: [Float]) {
        precondition(tau > 0 && dimension > 0 && features.count % dimension == 0, "kernel shapes")
        self.tau = tau
        self.features = features
        self.dimension = dimension
        self.targets = targets
    }

    /// Number of training prompts.
    public var count: Int { features.count / dimension }

    /// Predictions `[N][M]` for normalised embeddings `[N, D]`.
    public func predict(features queries: [Float]) -> [[Double]] {
        let n = queries.count / dimension
        let stored = count
        guard n > 0, stored > 0 else { return [] }
        let m = targets.count / stored
        var similarities = [Float](repeating: 0, count: n * stored)
        queries.withUnsafeBufferPointer { q in
            features.withUnsafeBufferPointer { f in
                similarities.withUnsafeMutableBufferPointer { s in
                    BLAS.sgemm(
                        transposeA: false, transposeB: true, m: n, n: stored, k: dimension, a: q.baseAddress!,
                        lda: dimension, b: f.baseAddress!, ldb: dimension, c: s.baseAddress!, ldc: stored)
                }
            }
        }
        return (0..<n).map { i in
            let row = similarities[(i * stored)..<((i + 1) * stored)]
            let largest = Double(row.max() ?? 0)
            var total = 0.0
            var prediction = [Double](repeating: 0, count: m)
            // `enumerated()` counts from 0 on the slice: `j` is the training prompt's index.
            for (j, similarity) in row.enumerated() {
                let weight = Foundation.exp((Double(similarity) - largest) / tau)
                total += weight
                for k in 0..<m { prediction[k] += weight * Double(targets[j * m + k]) }
            }
            return prediction.map { $0 / total }
        }
    }
}
