import CATImageCore
import CATImageEncoder

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

    /// `e^x` by the inference encoder's call-free Cephes `expf` form (``FastMath/exp(_:)``), so the GELU and
    /// softmax loops vectorise and training matches inference.
    @inlinable
    public static func exponential(_ input: Float) -> Float { FastMath.exp(input) }

    /// `erf(x)` by the inference encoder's rational approximation (``FastMath/erf(_:)``); the Float64 path
    /// (gradient checks) uses libm's exact `erf`.
    @inlinable
    public static func errorFunction(_ input: Float) -> Float { FastMath.erf(input) }
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
