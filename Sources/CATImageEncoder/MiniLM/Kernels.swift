#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Element-wise pieces of the forward pass on raw row-major Float32 buffers.
enum Kernels {
    /// Every row of `destination` (`[rows, count]`) set to `row` (`[count]`).
    @inline(__always)
    static func broadcastRows(
        _ row: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, rows: Int, count: Int
    ) {
        for r in 0..<rows { (destination + r * count).update(from: row, count: count) }
    }

    /// `destination[r] = source[r] + row` for every row.
    @inline(__always)
    static func addRow(
        _ row: UnsafePointer<Float>, to source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>,
        rows: Int, count: Int
    ) {
        for r in 0..<rows {
            let input = source + r * count
            let output = destination + r * count
            for c in 0..<count { output[c] = input[c] + row[c] }
        }
    }

    /// LayerNorm of each row of `source` into `destination` (which may be the same buffer):
    /// `(x - mean) / sqrt(var + eps) * weight + bias`, variance biased (divided by `count`) as PyTorch does.
    static func layerNorm(
        _ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, rows: Int,
        _ norm: MiniLM.LayerNorm
    ) {
        let count = norm.count
        let weight = norm.weight
        let bias = norm.bias
        for r in 0..<rows {
            let input = source + r * count
            let output = destination + r * count
            var sum: Float = 0
            for c in 0..<count { sum += input[c] }
            let mean = sum / Float(count)
            var squares: Float = 0
            for c in 0..<count {
                let centred = input[c] - mean
                squares += centred * centred
            }
            let scale = 1 / (squares / Float(count) + norm.epsilon).squareRoot()
            for c in 0..<count { output[c] = (input[c] - mean) * scale * weight[c] + bias[c] }
        }
    }

    /// Exact GELU in place: `x · Φ(x) = 0.5 · x · (1 + erf(x / √2))` (BERT's `gelu`, not the tanh approximation).
    static func gelu(_ values: UnsafeMutablePointer<Float>, count: Int) {
        let inverseRoot2: Float = 0.707_106_781_186_547_524_4
        for index in 0..<count {
            let x = values[index]
            values[index] = 0.5 * x * (1 + erff(x * inverseRoot2))
        }
    }

    /// Softmax of one row in place.
    @inline(__always)
    static func softmax(_ row: UnsafeMutablePointer<Float>, count: Int) {
        var maximum = -Float.infinity
        for index in 0..<count { maximum = max(maximum, row[index]) }
        var sum: Float = 0
        for index in 0..<count {
            let e = expf(row[index] - maximum)
            row[index] = e
            sum += e
        }
        let scale = 1 / sum
        for index in 0..<count { row[index] *= scale }
    }
}
