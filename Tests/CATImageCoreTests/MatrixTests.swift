import Testing

@testable import CATImageCore

@Suite("Matrix through CBLAS")
struct MatrixTests {
    @Test("GEMM matches a hand-computed product, with and without transposes")
    func products() {
        let a = Matrix(rowVectors: [[1, 2, 3], [4, 5, 6]])
        let b = Matrix(rowVectors: [[7, 8], [9, 10], [11, 12]])
        #expect(a.multiplied(by: b) == Matrix(rowVectors: [[58, 64], [139, 154]]))
        #expect(
            b.multiplied(by: a, transposeSelf: true, transposeOther: true)
                == Matrix(rowVectors: [[58, 139], [64, 154]]))
        #expect(a.multiplied(by: a, transposeOther: true) == Matrix(rowVectors: [[14, 32], [32, 77]]))
    }

    @Test("a one-row GEMM (sent to GEMV) matches the hand-computed product for every transpose, alpha and beta")
    func oneRowProducts() {
        // a = [1, 2, 3]; B = [[7, 8], [9, 10], [11, 12]]: a · B = [58, 64].
        let row: [Float] = [1, 2, 3]
        let column: [Float] = [1, 9, 2, 9, 3, 9]  // a stored as a [3, 2] column (lda 2), second column ignored
        let b: [Float] = [7, 8, 9, 10, 11, 12]
        let bt: [Float] = [7, 9, 11, 8, 10, 12]  // Bᵀ stored [2, 3]
        for (transposeA, a, lda) in [(false, row, 3), (true, column, 2)] {
            for (transposeB, stored, ldb) in [(false, b, 2), (true, bt, 3)] {
                var c: [Float] = [1, 1]
                BLAS.sgemm(
                    transposeA: transposeA, transposeB: transposeB, m: 1, n: 2, k: 3, alpha: 2, a: a, lda: lda,
                    b: stored, ldb: ldb, beta: 0.5, c: &c, ldc: 2)
                #expect(c == [116.5, 128.5], "transposeA \(transposeA), transposeB \(transposeB)")
            }
        }
    }

    @Test("GEMV matches a hand-computed product")
    func vectorProduct() {
        let a = Matrix(rowVectors: [[1, 2], [3, 4], [5, 6]])
        #expect(a.multiplied(byVector: [1, -1]) == [-1, -1, -1])
        #expect(a.multiplied(byVector: [1, 0, 1], transposeSelf: true) == [6, 8])
    }

    @Test("row normalisation, bias and row selection")
    func rowOperations() {
        var a = Matrix(rowVectors: [[3, 4], [0, 0]])
        a.normalizeRows()
        #expect(a.row(0) == [0.6, 0.8] && a.row(1) == [0, 0])
        a.addToEachRow([1, 1])
        #expect(a.rows(at: [1, 0]) == Matrix(rowVectors: [[1, 1], [1.6, 1.8]]))
        #expect(Matrix(rowVectors: [[1, 2], [3, 4]]).columnMeans() == [2, 3])
    }

    @Test("Cholesky solves a symmetric positive-definite system")
    func cholesky() throws {
        // A = [[4, 2], [2, 3]], x = [[1, 2], [-1, 0]] → b = A x.
        let x = try Cholesky.solve([4, 2, 2, 3], n: 2, [2, 8, -1, 4], columns: 2)
        for (value, expected) in zip(x, [1.0, 2, -1, 0]) { #expect(abs(value - expected) < 1e-12) }
        #expect(throws: Cholesky.NotPositiveDefinite.self) {
            try Cholesky.solve([1, 2, 2, 1], n: 2, [1, 1], columns: 1)
        }
    }

    @Test("Parallel.map returns results in index order")
    func parallelMap() {
        #expect(Parallel.map(100, workers: 2) { $0 * $0 } == (0..<100).map { $0 * $0 })
    }
}
