/// Element-wise pieces of the forward pass on raw row-major Float32 buffers.
///
/// Reductions (LayerNorm sums, attention dot products) use 8-wide SIMD values, which vectorise on any x86-64 or
/// arm64 target without compiler flags; element-wise maps (GELU, exp) are call-free scalar loops that LLVM
/// vectorises itself and that stay fast in debug builds.
enum Kernels {
    typealias Vector = SIMD8<Float>

    @inline(__always)
    static func load(_ pointer: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(pointer).loadUnaligned(as: Vector.self)
    }

    @inline(__always)
    static func store(_ value: Vector, _ pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Vector.self)
    }

    /// Every row of `destination` (`[rows, count]`) set to `row` (`[count]`).
    static func broadcastRows(
        _ row: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, rows: Int, count: Int
    ) {
        for r in 0..<rows { (destination + r * count).update(from: row, count: count) }
    }

    /// `destination[r] = source[r] + row` for every row.
    static func addRow(
        _ row: UnsafePointer<Float>, to source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>,
        rows: Int, count: Int
    ) {
        let vectorEnd = count & ~7
        for r in 0..<rows {
            let input = source + r * count
            let output = destination + r * count
            var c = 0
            while c < vectorEnd {
                store(load(input + c) + load(row + c), output + c)
                c += 8
            }
            while c < count {
                output[c] = input[c] + row[c]
                c += 1
            }
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
        let vectorEnd = count & ~7
        for r in 0..<rows {
            let input = source + r * count
            let output = destination + r * count
            var sums = Vector.zero
            var c = 0
            while c < vectorEnd {
                sums += load(input + c)
                c += 8
            }
            var sum = sums.sum()
            while c < count {
                sum += input[c]
                c += 1
            }
            let mean = sum / Float(count)
            var squares = Vector.zero
            c = 0
            while c < vectorEnd {
                let centred = load(input + c) - mean
                squares += centred * centred
                c += 8
            }
            var squareSum = squares.sum()
            while c < count {
                let centred = input[c] - mean
                squareSum += centred * centred
                c += 1
            }
            let scale = 1 / (squareSum / Float(count) + norm.epsilon).squareRoot()
            c = 0
            while c < vectorEnd {
                store((load(input + c) - mean) * scale * load(weight + c) + load(bias + c), output + c)
                c += 8
            }
            while c < count {
                output[c] = (input[c] - mean) * scale * weight[c] + bias[c]
                c += 1
            }
        }
    }

    /// GELU in place with the exact erf form `0.5 · x · (1 + erf(x / √2))` (BERT's `gelu`, not the tanh
    /// approximation); `erf` by `erf(_:)` below.
    ///
    /// Written as a plain loop over scalars with no calls: LLVM vectorises it in release builds, and debug builds
    /// (the test suite) stay fast, which SIMD types would not.
    static func gelu(_ values: UnsafeMutablePointer<Float>, count: Int) {
        let inverseRoot2: Float = 0.707_106_781_186_547_524_4
        for index in 0..<count {
            let x = values[index]
            values[index] = 0.5 * x * (1 + erf(x * inverseRoot2))
        }
    }

    /// `erf(x)`, call-free (see ``FastMath/erf(_:)``).
    @inline(__always)
    static func erf(_ input: Float) -> Float { FastMath.erf(input) }

    /// `exp(x)`, call-free (see ``FastMath/exp(_:)``).
    @inline(__always)
    static func exp(_ input: Float) -> Float { FastMath.exp(input) }

    /// Softmax of one row in place.
    static func softmax(_ row: UnsafeMutablePointer<Float>, count: Int) {
        var maximum = -Float.infinity
        for index in 0..<count { maximum = max(maximum, row[index]) }
        var sum: Float = 0
        for index in 0..<count {
            let e = exp(row[index] - maximum)
            row[index] = e
            sum += e
        }
        let scale = 1 / sum
        for index in 0..<count { row[index] *= scale }
    }

    /// Attention of one head over one sequence, for short sequences (where per-call BLAS overhead would
    /// dominate): `context[i] = Σⱼ softmax(qᵢ·kⱼ · scale)ⱼ vⱼ`. Rows of `query`, `key`, `value` and `context` are
    /// `size` wide at strides `inputStride` and `outputStride`; `size` must be a multiple of 8; `scores` holds
    /// `n` floats.
    static func shortAttention(
        query: UnsafePointer<Float>, key: UnsafePointer<Float>, value: UnsafePointer<Float>, inputStride: Int,
        context: UnsafeMutablePointer<Float>, outputStride: Int, count n: Int, size: Int, scale: Float,
        scores: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<n {
            let q = query + i * inputStride
            for j in 0..<n {
                let k = key + j * inputStride
                var dot = Vector.zero
                var c = 0
                while c < size {
                    dot += load(q + c) * load(k + c)
                    c += 8
                }
                scores[j] = dot.sum() * scale
            }
            softmax(scores, count: n)
            let out = context + i * outputStride
            var c = 0
            while c < size {
                var accumulator = Vector.zero
                for j in 0..<n { accumulator += scores[j] * load(value + j * inputStride + c) }
                store(accumulator, out + c)
                c += 8
            }
        }
    }
}
