import CATImageCore

/// Building blocks of the forward and backward passes, on raw row-major buffers.
///
/// Linear layers store weights as PyTorch does, `[out, in]`, so `y = x Wᵀ + b`.
enum Kernels {
    /// `y[N, out] = x[N, in] Wᵀ + b`.
    static func linear<T: TrainingScalar>(
        _ x: UnsafePointer<T>, rows: Int, inputs: Int, weight: UnsafePointer<T>, bias: UnsafePointer<T>,
        outputs: Int, into y: UnsafeMutablePointer<T>
    ) {
        for r in 0..<rows { (y + r * outputs).update(from: bias, count: outputs) }
        T.gemm(
            transposeA: false, transposeB: true, m: rows, n: outputs, k: inputs, alpha: 1, a: x, lda: inputs,
            b: weight, ldb: inputs, beta: 1, c: y, ldc: outputs)
    }

    /// Gradients of `y = x Wᵀ + b`: `dW += dyᵀ x`, `db += Σ dy`, and `dx = dy W` (or `dx += dy W`).
    static func linearBackward<T: TrainingScalar>(
        _ dy: UnsafePointer<T>, x: UnsafePointer<T>, rows: Int, inputs: Int, outputs: Int,
        weight: UnsafePointer<T>, weightGradient: UnsafeMutablePointer<T>, biasGradient: UnsafeMutablePointer<T>,
        inputGradient: UnsafeMutablePointer<T>?, accumulateInput: Bool = false
    ) {
        T.gemm(
            transposeA: true, transposeB: false, m: outputs, n: inputs, k: rows, alpha: 1, a: dy, lda: outputs,
            b: x, ldb: inputs, beta: 1, c: weightGradient, ldc: inputs)
        for r in 0..<rows {
            let row = dy + r * outputs
            for o in 0..<outputs { biasGradient[o] += row[o] }
        }
        if let dx = inputGradient {
            T.gemm(
                transposeA: false, transposeB: false, m: rows, n: inputs, k: outputs, alpha: 1, a: dy,
                lda: outputs, b: weight, ldb: inputs, beta: accumulateInput ? 1 : 0, c: dx, ldc: inputs)
        }
    }

    /// LayerNorm over each row of `x[N, H]`: `y = γ x̂ + β`, keeping `x̂` and `1/σ` for the backward pass.
    static func layerNorm<T: TrainingScalar>(
        _ x: UnsafePointer<T>, rows: Int, width: Int, gamma: UnsafePointer<T>, beta: UnsafePointer<T>,
        epsilon: T, output y: UnsafeMutablePointer<T>, normalized xhat: UnsafeMutablePointer<T>?,
        inverseDeviation rstd: UnsafeMutablePointer<T>?
    ) {
        let n = T(width)
        for r in 0..<rows {
            let row = x + r * width
            var mean: T = 0
            for i in 0..<width { mean += row[i] }
            mean /= n
            var variance: T = 0
            for i in 0..<width {
                let d = row[i] - mean
                variance += d * d
            }
            variance /= n
            let inverse = 1 / (variance + epsilon).squareRoot()
            rstd?[r] = inverse
            let out = y + r * width
            for i in 0..<width {
                let normalized = (row[i] - mean) * inverse
                xhat?[r * width + i] = normalized
                out[i] = gamma[i] * normalized + beta[i]
            }
        }
    }

    /// Backward of ``layerNorm``: `dx = (1/σ)(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))` with `dx̂ = dy·γ`.
    static func layerNormBackward<T: TrainingScalar>(
        _ dy: UnsafePointer<T>, normalized xhat: UnsafePointer<T>, inverseDeviation rstd: UnsafePointer<T>,
        rows: Int, width: Int, gamma: UnsafePointer<T>, gammaGradient: UnsafeMutablePointer<T>,
        betaGradient: UnsafeMutablePointer<T>, inputGradient dx: UnsafeMutablePointer<T>
    ) {
        let n = T(width)
        for r in 0..<rows {
            let g = dy + r * width
            let h = xhat + r * width
            var sum: T = 0
            var dot: T = 0
            for i in 0..<width {
                gammaGradient[i] += g[i] * h[i]
                betaGradient[i] += g[i]
                let d = g[i] * gamma[i]
                sum += d
                dot += d * h[i]
            }
            sum /= n
            dot /= n
            let out = dx + r * width
            for i in 0..<width { out[i] = rstd[r] * (g[i] * gamma[i] - sum - h[i] * dot) }
        }
    }

    /// Exact GELU, `x·Φ(x) = ½x(1 + erf(x/√2))`, as BERT's `gelu`.
    @inline(__always)
    static func gelu<T: TrainingScalar>(_ x: T) -> T {
        x * (1 + T.errorFunction(x * T(0.70710678118654752440))) / 2
    }

    /// `d gelu / dx = Φ(x) + x·φ(x)`.
    @inline(__always)
    static func geluDerivative<T: TrainingScalar>(_ x: T) -> T {
        let cdf = (1 + T.errorFunction(x * T(0.70710678118654752440))) / 2
        let pdf = T.exponential(-x * x / 2) * T(0.39894228040143267794)
        return cdf + x * pdf
    }

    /// Inverted-dropout scales (`0` or `1/(1−p)`) drawn from `generator`.
    static func dropoutMask<T: TrainingScalar>(
        _ mask: UnsafeMutablePointer<T>, count: Int, probability: Double, generator: inout SeededGenerator
    ) {
        let keep = T(1 / (1 - probability))
        // Compare the top 53 bits with p·2^53: one draw per element, identical on every platform.
        let threshold = UInt64(probability * 0x1.0p53)
        for i in 0..<count { mask[i] = (generator.next() >> 11) < threshold ? 0 : keep }
    }
}
