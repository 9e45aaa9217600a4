import CATImageCore

/// Kernel ridge regression on the frozen features: the prediction for a prompt is `Σ_j a_j · k(x, x_j)` over the
/// training prompts, with the similarity kernel `k(x, y) = exp((cos(x, y) − 1)/τ)` and the coefficients `A` `[N, M]`
/// solving `(K + αI) A = Y` on the standardized targets.
///
/// Where the similarity kernel (``NeighborEstimator``, `.kernel`) averages its neighbours' qualities with weights
/// that sum to one, this one fits them: a neighbour's weight accounts for the neighbours it shares with others, and
/// a prompt far from every training prompt falls back to the training mean. The system is solved by conjugate
/// gradients on the Gram matrix `K` `[N, N]` in Float32 (one SGEMM per iteration for all generators at once), so
/// fitting costs `N²` memory: at most ``maxPrompts`` prompts enter the fit (evenly spaced over the training set when
/// it is larger). A prediction costs one similarity row, as the similarity kernel's does.
public struct KernelRidgeEstimator: SimilarityEstimator {
    public let spec: EstimatorSpec
    /// Training features `[N, D]` (L2-normalised rows).
    public let features: Matrix
    /// Dual coefficients `[N, M]` in standardized target units.
    public let coefficients: Matrix
    let scaling: TargetScaling

    /// Most training prompts one fit holds (the Gram matrix is `maxPrompts²` Float32 values: 1.6 GB).
    public static let maxPrompts = 20_000

    init(_ data: TrainingSet, tau: Double, alpha: Double, progress: (@Sendable (String) -> Void)?) throws {
        guard tau > 0, tau.isFinite else { throw EstimatorError("krr needs tau > 0, got \(tau)") }
        guard alpha > 0, alpha.isFinite else { throw EstimatorError("krr needs alpha > 0, got \(alpha)") }
        var data = data
        if data.count > Self.maxPrompts {
            let stride = Double(data.count) / Double(Self.maxPrompts)
            data = data.subset((0..<Self.maxPrompts).map { Int(Double($0) * stride) })
            progress?(
                "krr: fitting on \(Self.maxPrompts) of the training prompts, evenly spaced (its kernel matrix grows as N²)"
            )
        }
        let n = data.count
        let m = data.outputCount
        let features = data.features
        var gram = features.multiplied(by: features, transposeOther: true)
        Self.applyKernelInPlace(&gram.storage, tau: tau)
        let scaling = TargetScaling(quality: data.targets).roundedToFloat32()
        let targets = scaling.targets(fromQualities: data.targets).flatMap { $0 }
        let solution = try Self.conjugateGradients(gram: gram, alpha: alpha, targets: targets, outputs: m)
        self.spec = .krr(tau: tau, alpha: alpha)
        self.features = features
        self.coefficients = Matrix(rows: n, columns: m, storage: solution.map { Float($0) })
        self.scaling = scaling
    }

    init(spec: EstimatorSpec, tensors: [String: EstimatorTensor]) throws {
        guard let features = tensors["features"], let coefficients = tensors["coefficients"],
            features.shape.count == 2, coefficients.shape.count == 2, features.shape[0] == coefficients.shape[0],
            let scaling = TargetScaling(stored: tensors, outputs: coefficients.shape[1])
        else { throw EstimatorError("krr estimator tensors are missing or disagree in shape") }
        self.spec = spec
        self.features = features.matrix
        self.coefficients = coefficients.matrix
        self.scaling = scaling
    }

    public var outputCount: Int { coefficients.columns }

    public func predict(_ input: EstimatorInput) -> [[Double]] {
        NeighborEstimator.predictInBatches(input.features, against: features) { predict(similarities: $0) }
    }

    func predict(similarities: Matrix) -> [[Double]] {
        guard case .krr(let tau, _) = spec else { preconditionFailure("not a krr spec: \(spec)") }
        var weights = similarities
        Self.applyKernelInPlace(&weights.storage, tau: tau)
        let z = weights.multiplied(by: coefficients)
        return (0..<z.rows).map { r in scaling.quality(fromTarget: z.row(r).map { Double($0) }) }
    }

    public func tensors() -> [String: EstimatorTensor] {
        scaling.tensors.merging([
            "features": EstimatorTensor(features), "coefficients": EstimatorTensor(coefficients),
        ]) { $1 }
    }

    /// Replaces every cosine `s` in `values` by `exp((s − 1)/τ)`, in place (the Gram matrix is the largest array of
    /// the fit), spread over the cores.
    static func applyKernelInPlace(_ values: inout [Float], tau: Double) {
        let count = values.count
        let chunk = max(1 << 16, (count + 63) / 64)
        values.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let shared = SharedBuffer(base: base)
            _ = Parallel.map((count + chunk - 1) / chunk) { task -> Bool in
                for i in (task * chunk)..<min(count, (task + 1) * chunk) {
                    shared.base[i] = Float(((Double(shared.base[i]) - 1) / tau).exponentialOrZero)
                }
                return true
            }
        }
    }

    /// Solves `(K + αI) A = Y` for the symmetric positive-definite `K` `[n, n]` and `Y` `[n, m]` (row-major), one
    /// conjugate-gradient recursion per column sharing one SGEMM per iteration; stops when every column's residual
    /// is below 1e-5 of its right-hand side (the Float32 products allow about that), and fails when it is still
    /// above 1e-3 after `maxIterations`.
    static func conjugateGradients(
        gram: Matrix, alpha: Double, targets y: [Double], outputs m: Int, maxIterations: Int = 2_000
    ) throws -> [Double] {
        let n = gram.rows
        precondition(gram.columns == n && y.count == n * m, "krr: shapes disagree (n=\(n), m=\(m))")
        var x = [Double](repeating: 0, count: n * m)
        var r = y
        var p = y
        func columnDot(_ a: [Double], _ b: [Double]) -> [Double] {
            var sums = [Double](repeating: 0, count: m)
            for i in 0..<n { for c in 0..<m { sums[c] += a[i * m + c] * b[i * m + c] } }
            return sums
        }
        let norms = columnDot(y, y).map { max($0.squareRoot(), 1e-300) }
        var rs = columnDot(r, r)
        var relative = zip(rs, norms).map { $0.squareRoot() / $1 }
        var iteration = 0
        while relative.contains(where: { $0 > 1e-5 }) && iteration < maxIterations {
            iteration += 1
            let direction = Matrix(rows: n, columns: m, storage: p.map { Float($0) })
            let product = gram.multiplied(by: direction)
            var q = [Double](repeating: 0, count: n * m)
            for i in 0..<(n * m) { q[i] = Double(product.storage[i]) + alpha * p[i] }
            let pq = columnDot(p, q)
            let step = (0..<m).map { c in pq[c] > 0 ? rs[c] / pq[c] : 0 }
            for i in 0..<n {
                for c in 0..<m {
                    x[i * m + c] += step[c] * p[i * m + c]
                    r[i * m + c] -= step[c] * q[i * m + c]
                }
            }
            let next = columnDot(r, r)
            let beta = (0..<m).map { c in rs[c] > 0 ? next[c] / rs[c] : 0 }
            for i in 0..<n { for c in 0..<m { p[i * m + c] = r[i * m + c] + beta[c] * p[i * m + c] } }
            rs = next
            relative = zip(rs, norms).map { $0.squareRoot() / $1 }
        }
        if let worst = relative.max(), worst > 1e-3 {
            throw EstimatorError(
                "krr: conjugate gradients did not converge in \(maxIterations) iterations (relative residual "
                    + "\(worst)); raise alpha or tau")
        }
        return x
    }
}

/// A buffer written by several tasks at disjoint indices (``KernelRidgeEstimator/applyKernelInPlace(_:tau:)``).
private struct SharedBuffer: @unchecked Sendable {
    // Safe: each task writes its own index range, and the buffer outlives `Parallel.map`, which returns only when
    // every task has finished.
    let base: UnsafeMutablePointer<Float>
}
