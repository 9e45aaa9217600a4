import CATImageCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The element type of the training code: Float32 for training, Float64 for gradient checks.
///
/// The forward and backward passes are written once over this protocol; matrix products go to
/// `BLAS.sgemm` or `BLAS.dgemm`.
public protocol TrainingScalar: BinaryFloatingPoint, Sendable {
    /// `C = alpha * op(A) * op(B) + beta * C` on row-major buffers (see `BLAS.sgemm`).
    static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self,
        a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int, beta: Self,
        c: UnsafeMutablePointer<Self>, ldc: Int)
    /// `e^x`.
    static func exponential(_ x: Self) -> Self
    /// The error function `erf(x)`.
    static func errorFunction(_ x: Self) -> Self
}

extension Float: TrainingScalar {
    @inlinable
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        BLAS.sgemm(
            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b,
            ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// `e^x` by Cephes `expf` (range reduction by ln 2, degree-5 polynomial; within 2 ulp), input clamped to
    /// [-87.3, 88]. Call-free, so the GELU and softmax loops vectorise (libm's `expf` is a call per element).
    @inlinable
    public static func exponential(_ input: Float) -> Float {
        let x = min(max(input, -87.3), 88)
        // Round x·log2(e) to the nearest integer by the 1.5·2²³ trick (exact for |values| < 2²²).
        let shifter: Float = 12_582_912
        let n = (x * 1.442_695_040_888_963_4 + shifter) - shifter
        var r = x - n * 0.693_359_375
        r = r + n * 2.121_944_40e-4
        var p: Float = 1.987_569_150_0e-4
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let polynomial = p * (r * r) + r + 1
        return polynomial * Float(bitPattern: UInt32(truncatingIfNeeded: Int32(n) &+ 127) &<< 23)
    }

    /// `erf(x)` by the rational approximation `x · P(x²) / Q(x²)` on [-4, 4] that Eigen and XLA use for float32
    /// (largest absolute error about 5e-7), clamped outside; the same form as the inference encoder's, and
    /// call-free so loops over it vectorise. The Float64 path (gradient checks) uses libm's exact `erf`.
    @inlinable
    public static func errorFunction(_ input: Float) -> Float {
        let x = min(max(input, -4), 4)
        let x2 = x * x
        var p: Float = -2.726_142_258_013_06e-10
        p = p * x2 + 2.770_681_424_959_02e-08
        p = p * x2 - 2.101_024_020_825_08e-06
        p = p * x2 - 5.692_506_394_623_46e-05
        p = p * x2 - 7.349_906_303_268_55e-04
        p = p * x2 - 2.954_599_808_540_25e-03
        p = p * x2 - 1.609_603_332_624_15e-02
        var q: Float = -1.456_607_184_649_96e-05
        q = q * x2 - 2.133_740_552_789_05e-04
        q = q * x2 - 1.682_826_974_382_03e-03
        q = q * x2 - 7.373_329_167_204_68e-03
        q = q * x2 - 1.426_473_905_141_89e-02
        return x * p / q
    }
}

extension Double: TrainingScalar {
    @inlinable
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int, beta: Double,
        c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        BLAS.dgemm(
            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b,
            ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    @inlinable public static func exponential(_ x: Double) -> Double { exp(x) }
    @inlinable public static func errorFunction(_ x: Double) -> Double { erf(x) }
}

/// A fixed-size heap buffer owned by one thread (activations, gradients of one worker).
final class ScalarBuffer<T: TrainingScalar> {
    let count: Int
    let pointer: UnsafeMutablePointer<T>

    init(count: Int) {
        self.count = count
        pointer = UnsafeMutablePointer<T>.allocate(capacity: max(1, count))
        pointer.initialize(repeating: 0, count: max(1, count))
    }

    deinit { pointer.deallocate() }

    func zero() { pointer.update(repeating: 0, count: count) }

    subscript(index: Int) -> T {
        get { pointer[index] }
        set { pointer[index] = newValue }
    }
}
