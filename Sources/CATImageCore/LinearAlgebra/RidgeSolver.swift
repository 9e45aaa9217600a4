/// The closed-form multi-output ridge solve shared by the ridge estimator and the fine-tuner's frozen partner.
public enum RidgeSolver {
    /// Solves `W = (XᵀX + αI)⁻¹ XᵀY` in Float64 for centred features `x` `[n, d]` and targets `y` `[n, m]`
    /// (row-major), returning `W` `[d, m]` row-major; throws ``Cholesky/NotPositiveDefinite`` when it cannot solve.
    ///
    /// The normal equations are formed with DGEMM and solved by Cholesky; a floor of 1e-8 on α keeps α = 0
    /// solvable when features are collinear.
    public static func solve(
        centredFeatures x: [Double], rows n: Int, columns d: Int, targets y: [Double], outputs m: Int, alpha: Double
    ) throws -> [Double] {
        precondition(x.count == n * d && y.count == n * m, "ridge: shapes disagree (n=\(n), d=\(d), m=\(m))")
        var gram = [Double](repeating: 0, count: d * d)
        var xty = [Double](repeating: 0, count: d * m)
        x.withUnsafeBufferPointer { xp in
            gram.withUnsafeMutableBufferPointer { g in
                BLAS.dgemm(
                    transposeA: true, transposeB: false, m: d, n: d, k: n, a: xp.baseAddress!, lda: d,
                    b: xp.baseAddress!, ldb: d, c: g.baseAddress!, ldc: d)
            }
            y.withUnsafeBufferPointer { yp in
                xty.withUnsafeMutableBufferPointer { c in
                    BLAS.dgemm(
                        transposeA: true, transposeB: false, m: d, n: m, k: n, a: xp.baseAddress!, lda: d,
                        b: yp.baseAddress!, ldb: m, c: c.baseAddress!, ldc: m)
                }
            }
        }
        for j in 0..<d { gram[j * d + j] += max(alpha, 1e-8) }
        return try Cholesky.solve(gram, n: d, xty, columns: m)
    }
}
