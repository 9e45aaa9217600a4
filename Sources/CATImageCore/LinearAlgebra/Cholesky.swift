/// Solving symmetric positive-definite systems in Float64, for ridge regression's normal equations.
public enum Cholesky {
    /// Why a factorisation failed.
    public struct NotPositiveDefinite: Error, CustomStringConvertible {
        /// The pivot index where a non-positive value appeared.
        public let pivot: Int
        public var description: String { "matrix is not positive definite (pivot \(pivot))" }
    }

    /// Solves `A X = B` for a symmetric positive-definite row-major `A` `[n, n]` and `B` `[n, m]`.
    ///
    /// The factorisation is O(n³/3) in plain loops; for the n ≤ 1,024 feature dimensions used here that
    /// is milliseconds, and it keeps the project off a LAPACK header that Debian ships separately.
    public static func solve(_ a: [Double], n: Int, _ b: [Double], columns m: Int) throws -> [Double] {
        precondition(a.count == n * n && b.count == n * m, "shapes do not match n=\(n), m=\(m)")
        var l = a
        for j in 0..<n {
            var diagonal = l[j * n + j]
            for k in 0..<j { diagonal -= l[j * n + k] * l[j * n + k] }
            guard diagonal > 0, diagonal.isFinite else { throw NotPositiveDefinite(pivot: j) }
            let root = diagonal.squareRoot()
            l[j * n + j] = root
            for i in (j + 1)..<max(j + 1, n) {
                var value = l[i * n + j]
                for k in 0..<j { value -= l[i * n + k] * l[j * n + k] }
                l[i * n + j] = value / root
            }
        }
        var x = b
        // Forward substitution L y = b, then back substitution Lᵀ x = y, column block at a time.
        for i in 0..<n {
            for k in 0..<i {
                let factor = l[i * n + k]
                if factor == 0 { continue }
                for c in 0..<m { x[i * m + c] -= factor * x[k * m + c] }
            }
            let pivot = l[i * n + i]
            for c in 0..<m { x[i * m + c] /= pivot }
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            for k in (i + 1)..<max(i + 1, n) {
                let factor = l[k * n + i]
                if factor == 0 { continue }
                for c in 0..<m { x[i * m + c] -= factor * x[k * m + c] }
            }
            let pivot = l[i * n + i]
            for c in 0..<m { x[i * m + c] /= pivot }
        }
        return x
    }
}
