#if canImport(Accelerate)
    import Accelerate
#elseif canImport(COpenBLAS)
    import COpenBLAS
#endif

/// Thin, typed entry points into CBLAS (OpenBLAS on Linux, Accelerate on Apple platforms).
///
/// Every matrix product in the project goes through here so that the platform switch lives in one file.
public enum BLAS {
    /// Sets how many threads OpenBLAS may use inside one call.
    ///
    /// On a 2-core machine a small GEMM runs about twice as fast on one thread as on two, so the project
    /// defaults to one BLAS thread and parallelises across inputs instead (see `ParallelMap`).
    public static func setThreadCount(_ count: Int) {
        precondition(count >= 1, "BLAS thread count must be at least 1")
        #if !canImport(Accelerate)
            openblas_set_num_threads(Int32(count))
        #endif
    }

    /// The number of threads OpenBLAS uses inside one call (1 on Accelerate, which manages its own).
    public static var threadCount: Int {
        #if canImport(Accelerate)
            return 1
        #else
            return Int(openblas_get_num_threads())
        #endif
    }

    /// `C = alpha * op(A) * op(B) + beta * C` on row-major Float32 buffers.
    ///
    /// A one-row product (`m == 1`: one query against stored rows, as a served request makes) goes to SGEMV:
    /// OpenBLAS 0.3.21's SGEMM first packs all of `B`, which for 10,000 stored embeddings doubles the time, while
    /// SGEMV streams `B` once.
    ///
    /// - Parameters:
    ///   - m, n, k: `op(A)` is `[m, k]`, `op(B)` is `[k, n]`, `C` is `[m, n]`.
    ///   - lda, ldb, ldc: row strides of the stored (untransposed) buffers.
    @inlinable
    public static func sgemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        if m == 1 && k > 0 {
            // c = alpha · op(B)ᵀ · a + beta · c, with a's k values at stride lda when A is stored transposed.
            cblas_sgemv(
                CblasRowMajor, transposeB ? CblasNoTrans : CblasTrans, blasInt(transposeB ? n : k),
                blasInt(transposeB ? k : n), alpha, b, blasInt(ldb), a, blasInt(transposeA ? lda : 1), beta, c, 1)
            return
        }
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            blasInt(m), blasInt(n), blasInt(k), alpha, a, blasInt(lda), b, blasInt(ldb), beta, c, blasInt(ldc))
    }

    /// `y = alpha * op(A) * x + beta * y` for a row-major `[m, n]` Float32 matrix.
    @inlinable
    public static func sgemv(
        transposeA: Bool, m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        guard m > 0, n > 0 else { return }
        cblas_sgemv(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, blasInt(m), blasInt(n), alpha, a, blasInt(lda),
            x, 1, beta, y, 1)
    }

    /// `C = alpha * op(A) * op(B) + beta * C` on row-major Float64 buffers (used where Float32 loses too much,
    /// e.g. the normal equations of ridge regression).
    @inlinable
    public static func dgemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double = 1,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int, beta: Double = 0,
        c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        cblas_dgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            blasInt(m), blasInt(n), blasInt(k), alpha, a, blasInt(lda), b, blasInt(ldb), beta, c, blasInt(ldc))
    }

    /// `y += alpha * x` on Float32 buffers of length `n`.
    @inlinable
    public static func saxpy(n: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        guard n > 0 else { return }
        cblas_saxpy(blasInt(n), alpha, x, 1, y, 1)
    }

    /// Dot product of two Float32 buffers of length `n`.
    @inlinable
    public static func sdot(n: Int, x: UnsafePointer<Float>, y: UnsafePointer<Float>) -> Float {
        guard n > 0 else { return 0 }
        return cblas_sdot(blasInt(n), x, 1, y, 1)
    }

    #if canImport(Accelerate)
        @usableFromInline typealias BLASInt = Int32
    #else
        @usableFromInline typealias BLASInt = blasint
    #endif

    @inlinable
    static func blasInt(_ value: Int) -> BLASInt {
        precondition(value >= 0 && value <= Int(BLASInt.max), "BLAS dimension \(value) out of range")
        return BLASInt(value)
    }
}
