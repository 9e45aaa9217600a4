/// A dense row-major Float32 matrix `[rows, columns]`.
///
/// Products go through CBLAS (`BLAS.sgemm` / `BLAS.sgemv`); element-wise helpers are plain loops over
/// contiguous storage, which the compiler vectorises.
public struct Matrix: Sendable, Equatable {
    /// Number of rows.
    public let rows: Int
    /// Number of columns.
    public let columns: Int
    /// Row-major storage, `rows * columns` values.
    public var storage: [Float]

    /// A matrix filled with `value`.
    public init(rows: Int, columns: Int, repeating value: Float = 0) {
        precondition(rows >= 0 && columns >= 0, "negative matrix shape [\(rows), \(columns)]")
        self.rows = rows
        self.columns = columns
        self.storage = [Float](repeating: value, count: rows * columns)
    }

    /// A matrix over existing row-major storage; `storage.count` must equal `rows * columns`.
    public init(rows: Int, columns: Int, storage: [Float]) {
        precondition(rows >= 0 && columns >= 0, "negative matrix shape [\(rows), \(columns)]")
        precondition(
            storage.count == rows * columns, "storage holds \(storage.count) values, shape needs \(rows * columns)")
        self.rows = rows
        self.columns = columns
        self.storage = storage
    }

    /// A matrix whose rows are the given vectors, which must all have the same length.
    public init(rowVectors: [[Float]]) {
        let columns = rowVectors.first?.count ?? 0
        var storage: [Float] = []
        storage.reserveCapacity(rowVectors.count * columns)
        for row in rowVectors {
            precondition(row.count == columns, "ragged rows: \(row.count) vs \(columns)")
            storage.append(contentsOf: row)
        }
        self.init(rows: rowVectors.count, columns: columns, storage: storage)
    }

    /// The shape as `[rows, columns]`, for messages.
    public var shape: [Int] { [rows, columns] }

    /// Element at `(row, column)`.
    @inlinable
    public subscript(row: Int, column: Int) -> Float {
        get { storage[row * columns + column] }
        set { storage[row * columns + column] = newValue }
    }

    /// A copy of one row.
    public func row(_ index: Int) -> [Float] {
        precondition(index >= 0 && index < rows, "row \(index) out of range 0..<\(rows)")
        return Array(storage[(index * columns)..<((index + 1) * columns)])
    }

    /// The rows at `indices`, in that order.
    public func rows(at indices: [Int]) -> Matrix {
        var result = Matrix(rows: indices.count, columns: columns)
        storage.withUnsafeBufferPointer { source in
            result.storage.withUnsafeMutableBufferPointer { target in
                for (position, index) in indices.enumerated() {
                    precondition(index >= 0 && index < rows, "row \(index) out of range 0..<\(rows)")
                    let from = source.baseAddress! + index * columns
                    (target.baseAddress! + position * columns).update(from: from, count: columns)
                }
            }
        }
        return result
    }

    /// The transpose `[columns, rows]`.
    public func transposed() -> Matrix {
        var result = Matrix(rows: columns, columns: rows)
        for r in 0..<rows {
            for c in 0..<columns {
                result.storage[c * rows + r] = storage[r * columns + c]
            }
        }
        return result
    }

    /// `op(self) · op(other)` through SGEMM.
    public func multiplied(
        by other: Matrix, transposeSelf: Bool = false, transposeOther: Bool = false
    ) -> Matrix {
        let m = transposeSelf ? columns : rows
        let k = transposeSelf ? rows : columns
        let otherK = transposeOther ? other.columns : other.rows
        let n = transposeOther ? other.rows : other.columns
        precondition(
            k == otherK,
            "inner dimensions differ: \(shape)\(transposeSelf ? "ᵀ" : "") · \(other.shape)\(transposeOther ? "ᵀ" : "")")
        var result = Matrix(rows: m, columns: n)
        if k == 0 { return result }
        storage.withUnsafeBufferPointer { a in
            other.storage.withUnsafeBufferPointer { b in
                result.storage.withUnsafeMutableBufferPointer { c in
                    BLAS.sgemm(
                        transposeA: transposeSelf, transposeB: transposeOther, m: m, n: n, k: k,
                        a: a.baseAddress!, lda: columns, b: b.baseAddress!, ldb: other.columns,
                        c: c.baseAddress!, ldc: n)
                }
            }
        }
        return result
    }

    /// `self · vector` (or `selfᵀ · vector`) through SGEMV.
    public func multiplied(byVector vector: [Float], transposeSelf: Bool = false) -> [Float] {
        let inner = transposeSelf ? rows : columns
        let outer = transposeSelf ? columns : rows
        precondition(vector.count == inner, "vector of \(vector.count) against matrix \(shape)")
        var result = [Float](repeating: 0, count: outer)
        if inner == 0 || outer == 0 { return result }
        storage.withUnsafeBufferPointer { a in
            vector.withUnsafeBufferPointer { x in
                result.withUnsafeMutableBufferPointer { y in
                    BLAS.sgemv(
                        transposeA: transposeSelf, m: rows, n: columns, a: a.baseAddress!, lda: columns,
                        x: x.baseAddress!, y: y.baseAddress!)
                }
            }
        }
        return result
    }

    /// Adds `vector` to every row (a bias).
    public mutating func addToEachRow(_ vector: [Float]) {
        precondition(vector.count == columns, "bias of \(vector.count) against \(columns) columns")
        storage.withUnsafeMutableBufferPointer { values in
            vector.withUnsafeBufferPointer { bias in
                for r in 0..<rows {
                    let base = r * columns
                    for c in 0..<columns { values[base + c] += bias[c] }
                }
            }
        }
    }

    /// Scales every row to unit Euclidean length; all-zero rows stay zero.
    public mutating func normalizeRows() {
        storage.withUnsafeMutableBufferPointer { values in
            for r in 0..<rows {
                let base = r * columns
                var sum: Float = 0
                for c in 0..<columns { sum += values[base + c] * values[base + c] }
                guard sum > 0 else { continue }
                let scale = 1 / sum.squareRoot()
                for c in 0..<columns { values[base + c] *= scale }
            }
        }
    }

    /// The mean of each column.
    public func columnMeans() -> [Float] {
        var sums = [Double](repeating: 0, count: columns)
        for r in 0..<rows {
            for c in 0..<columns { sums[c] += Double(storage[r * columns + c]) }
        }
        return sums.map { rows > 0 ? Float($0 / Double(rows)) : 0 }
    }

    /// Rows stacked vertically; all matrices must have the same column count.
    public static func stacking(_ parts: [Matrix]) -> Matrix {
        guard let first = parts.first else { return Matrix(rows: 0, columns: 0) }
        var storage: [Float] = []
        storage.reserveCapacity(parts.reduce(0) { $0 + $1.storage.count })
        for part in parts {
            precondition(part.columns == first.columns, "stacking \(part.shape) under \(first.shape)")
            storage.append(contentsOf: part.storage)
        }
        return Matrix(rows: parts.reduce(0) { $0 + $1.rows }, columns: first.columns, storage: storage)
    }
}
