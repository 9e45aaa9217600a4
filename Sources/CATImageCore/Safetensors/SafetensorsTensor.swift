/// One tensor as Float32 values: its shape and its elements in row-major order.
public struct SafetensorsTensor: Sendable, Equatable {
    /// The dimensions, outermost first (`[]` for a scalar).
    public var shape: [Int]
    /// `shape.reduce(1, *)` values, row-major.
    public var values: [Float]

    /// A tensor of `shape` over `values`; their counts must agree.
    public init(shape: [Int], values: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        precondition(
            shape.reduce(1, *) == values.count, "shape \(shape) needs \(shape.reduce(1, *)) values, got \(values.count)"
        )
        self.shape = shape
        self.values = values
    }

    /// A 2-D tensor holding `matrix`.
    public init(_ matrix: Matrix) {
        self.init(shape: [matrix.rows, matrix.columns], values: matrix.storage)
    }

    /// A 1-D tensor holding `vector`.
    public init(_ vector: [Float]) {
        self.init(shape: [vector.count], values: vector)
    }
}

/// Where one tensor lies in a safetensors file, as its header says.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    /// The tensor's name (e.g. `encoder.layer.0.attention.self.query.weight`).
    public let name: String
    /// The stored element type.
    public let dtype: SafetensorsDType
    /// The dimensions, outermost first.
    public let shape: [Int]
    /// Byte range inside the file (already offset past the header).
    public let byteRange: Range<Int>

    /// Number of elements.
    public var elementCount: Int { shape.reduce(1, *) }
}
