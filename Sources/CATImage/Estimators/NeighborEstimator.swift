import CATImageCore

/// kNN and similarity-kernel estimators over cosine similarity of L2-normalised features.
///
/// Similarities of a batch of queries to every training prompt come from one SGEMM (`[B, D] · [N, D]ᵀ`);
/// the per-row selection or weighting then runs in parallel over the batch.
public struct NeighborEstimator: SimilarityEstimator {
    public let spec: EstimatorSpec
    /// Training features `[N, D]` (L2-normalised rows).
    public let features: Matrix
    /// Training targets `[N, M]`.
    public let targets: Matrix

    public init(spec: EstimatorSpec, features: Matrix, targets: Matrix) {
        precondition(features.rows == targets.rows, "features and targets disagree on rows")
        self.spec = spec
        self.features = features
        self.targets = targets
    }

    init(_ data: TrainingSet, spec: EstimatorSpec) {
        self.init(
            spec: spec, features: data.features,
            targets: Matrix(rowVectors: data.targets.map { $0.map { Float($0) } }))
    }

    public var outputCount: Int { targets.columns }

    public func tensors() -> [String: EstimatorTensor] {
        ["features": EstimatorTensor(features), "targets": EstimatorTensor(targets)]
    }

    public func predict(_ input: EstimatorInput) -> [[Double]] {
        Self.predictInBatches(input.features, against: features) { predict(similarities: $0) }
    }

    func predict(similarities: Matrix) -> [[Double]] {
        Self.predict(similarities: similarities, targets: targets, specs: [spec])[0]
    }

    /// Predictions for `queries` `[Q, D]` from their cosine similarities to the stored `features` `[N, D]`, taken
    /// 512 queries at a time so the similarity block stays small: `body` maps a block `[B, N]` to B predictions.
    static func predictInBatches(
        _ queries: Matrix, against features: Matrix, _ body: (_ similarities: Matrix) -> [[Double]]
    ) -> [[Double]] {
        precondition(queries.columns == features.columns, "queries \(queries.shape) against features \(features.shape)")
        var result: [[Double]] = []
        result.reserveCapacity(queries.rows)
        let batch = 512
        var start = 0
        while start < queries.rows {
            let end = min(queries.rows, start + batch)
            result += body(queries.rows(at: Array(start..<end)).multiplied(by: features, transposeOther: true))
            start = end
        }
        return result
    }

    /// Predictions for every spec in `specs` (each `.knn` or `.kernel`) from one similarity matrix `[B, N]`:
    /// kNN candidates share one sort per row, which is what makes the automatic grid search cheap.
    static func predict(similarities: Matrix, targets: Matrix, specs: [EstimatorSpec]) -> [[[Double]]] {
        let n = similarities.columns
        let m = targets.columns
        let needsSort = specs.contains { if case .knn = $0 { return true } else { return false } }
        let rows = Parallel.map(similarities.rows) { r -> [[Double]] in
            let base = r * n
            let sims = Array(similarities.storage[base..<(base + n)])
            var order: [Int] = []
            if needsSort {
                order = Array(0..<n)
                order.sort { sims[$0] != sims[$1] ? sims[$0] > sims[$1] : $0 < $1 }
            }
            return specs.map { spec -> [Double] in
                var sum = [Double](repeating: 0, count: m)
                var total = 0.0
                func add(_ j: Int, _ weight: Double) {
                    let t = j * m
                    for c in 0..<m { sum[c] += weight * Double(targets.storage[t + c]) }
                    total += weight
                }
                switch spec {
                case .knn(let k, let weighted):
                    for j in order.prefix(k) { add(j, weighted ? max(Double(sims[j]), 0) + 1e-6 : 1) }
                case .kernel(let tau):
                    let top = Double(sims.max() ?? 0)
                    for j in 0..<n { add(j, ((Double(sims[j]) - top) / tau).exponentialOrZero) }
                default:
                    preconditionFailure("not a neighbour estimator: \(spec)")
                }
                return sum.map { $0 / max(total, .leastNormalMagnitude) }
            }
        }
        return specs.indices.map { s in rows.map { $0[s] } }
    }
}

/// An estimator whose predictions are a function of the prompts' cosine similarities to its stored training
/// features alone (kNN, the similarity kernel, kernel ridge regression): ensemble members that store the same
/// features share one similarity computation (``EnsembleEstimator``), the largest part of their cost per decision.
protocol SimilarityEstimator: QualityEstimator {
    /// Training features `[N, D]` (L2-normalised rows).
    var features: Matrix { get }
    /// Predictions from a block of similarities `[B, N]` of B prompts to ``features``.
    func predict(similarities: Matrix) -> [[Double]]
}

extension Double {
    /// `exp(self)`, flushing values far below the largest weight to zero.
    var exponentialOrZero: Double { self < -700 ? 0 : _exp(self) }
}

@inline(__always) private func _exp(_ x: Double) -> Double {
    #if canImport(Glibc)
        return Glibc.exp(x)
    #else
        return Darwin.exp(x)
    #endif
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
