import CATImageCore
import CMiniLMKernels

extension MiniLM {
    /// Scratch buffers for one worker's forward passes, grown on demand and reused across batches so that the
    /// hot loop does not allocate.
    final class Workspace: @unchecked Sendable {
        // Safe: a workspace is used by one thread at a time; `SentenceEncoder` takes it from a locked pool for
        // the duration of one call and puts it back afterwards (the lock orders the hand-over).

        private(set) var tokenCapacity = 0
        private(set) var lengthCapacity = 0
        /// `[T, H]` token states.
        private(set) var hidden = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        /// `[T, 3H]` queries, keys and values.
        private(set) var qkv = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        /// `[T, H]` attention context, then reused.
        private(set) var context = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        /// `[T, H]` pre-LayerNorm sums.
        private(set) var residual = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        /// `[T, I]` feed-forward activations.
        private(set) var intermediate = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        /// `[L, L]` attention scores of one head.
        private(set) var scores = UnsafeMutablePointer<Float>.allocate(capacity: 1)

        let hiddenSize: Int
        let intermediateSize: Int

        init(configuration: Configuration) {
            hiddenSize = configuration.hiddenSize
            intermediateSize = configuration.intermediateSize
        }

        deinit {
            for buffer in [hidden, qkv, context, residual, intermediate, scores] { buffer.deallocate() }
        }

        /// Makes room for `tokens` packed tokens whose longest sequence has `longest` tokens.
        func reserve(tokens: Int, longest: Int) {
            if tokens > tokenCapacity {
                let capacity = max(tokens, tokenCapacity * 3 / 2)
                for buffer in [hidden, qkv, context, residual, intermediate] { buffer.deallocate() }
                hidden = .allocate(capacity: capacity * hiddenSize)
                qkv = .allocate(capacity: capacity * 3 * hiddenSize)
                context = .allocate(capacity: capacity * hiddenSize)
                residual = .allocate(capacity: capacity * hiddenSize)
                intermediate = .allocate(capacity: capacity * intermediateSize)
                tokenCapacity = capacity
            }
            if longest > lengthCapacity {
                scores.deallocate()
                scores = .allocate(capacity: longest * longest)
                lengthCapacity = longest
            }
        }
    }
}

extension MiniLM.Model {
    /// Sequences up to this many tokens use the hand-written attention loop; longer ones use two SGEMMs per head,
    /// where BLAS's per-call cost is small next to the `n² · d` arithmetic.
    static let shortAttentionLength = 48

    /// Runs the encoder over `sequences` (token ids, `[CLS] … [SEP]`, each at most `maxPositionEmbeddings` long)
    /// and writes one pooled vector per sequence to `pooled` (`[sequences.count, dimension]`).
    ///
    /// The sequences are packed end to end (`T` = their total length) rather than padded: the dense layers see
    /// only real tokens, and attention runs per sequence over its own range, which is exactly what the padding
    /// mask achieves in the reference (masked scores get weight `exp(-large) = 0`) without the wasted work.
    ///
    /// `ways` > 1 splits the columns of each dense product over that many threads: a lone prompt (a served
    /// request) then uses the idle cores instead of one. `kernel` says how the dense products run.
    ///
    /// `layerMeans` taps the same pass: for each `(layer, into)` the token states after encoder layer `layer` (0 is
    /// the embedding output, `layerCount` the last layer) are mean-pooled per sequence, L2-normalised and written
    /// to `into` (`[sequences.count, hiddenSize]`).
    func forward(
        _ sequences: [[Int32]], pooling: MiniLM.PoolingConfiguration, workspace: MiniLM.Workspace,
        pooled: UnsafeMutablePointer<Float>, layerMeans: [(layer: Int, into: UnsafeMutablePointer<Float>)] = [],
        ways: Int = 1, kernel: MiniLM.ProductKernel? = nil
    ) {
        precondition(
            layerMeans.allSatisfy { (0...configuration.layerCount).contains($0.layer) },
            "layer taps must lie in 0...\(configuration.layerCount)")
        let kernel = kernel ?? defaultKernel
        let h = configuration.hiddenSize
        let total = sequences.reduce(0) { $0 + $1.count }
        let longest = sequences.map(\.count).max() ?? 0
        guard total > 0 else { return }
        // The dense layers run on `rows` = T rounded up to a multiple of 4: OpenBLAS's Haswell SGEMM handles
        // 4 rows of the activations per kernel step, and a ragged remainder costs more than the extra rows
        // (measured here: [15, 384]·[384, 1152] 209 µs, [16, 384]·[384, 1152] 147 µs). The padding rows start at
        // zero, stay finite, and are never read by attention or pooling.
        // A few prompts' tokens (a served request) instead go through the packed small-row kernel, unpadded; at
        // bfloat16 every product does, so that a prompt's embedding does not depend on its batch.
        var small: (isa: catimage_isa, bfloat16: Bool)?
        if case .packed(let isa, let bfloat16) = kernel {
            let halves = bfloat16 && packed.hasBFloat16
            if halves || (total <= MiniLM.SmallProduct.maximumRows && packed.hasFloat32) { small = (isa, halves) }
        }
        let rows = small != nil ? total : (total + 3) & ~3
        workspace.reserve(tokens: rows, longest: longest)
        let hidden = workspace.hidden

        // Embeddings: word + position + token type 0, then LayerNorm.
        var row = 0
        for sequence in sequences {
            for (position, id) in sequence.enumerated() {
                precondition(
                    id >= 0 && Int(id) < configuration.vocabularySize && position < configuration.maxPositionEmbeddings,
                    "token id \(id) at position \(position) outside the model")
                let word = embeddings.wordEmbeddings + Int(id) * h
                let place = embeddings.positionEmbeddings + position * h
                let type = embeddings.tokenTypeEmbeddings
                let target = hidden + row * h
                for c in 0..<h { target[c] = word[c] + place[c] + type[c] }
                row += 1
            }
        }
        (hidden + total * h).update(repeating: 0, count: (rows - total) * h)
        (workspace.context + total * h).update(repeating: 0, count: (rows - total) * h)
        Kernels.layerNorm(hidden, into: hidden, rows: rows, embeddings.layerNorm)

        let meanPooling = MiniLM.PoolingConfiguration(meanOver: h)
        func tap(_ depth: Int) {
            for (layer, into) in layerMeans where layer == depth {
                pool(sequences, pooling: meanPooling, hidden: hidden, into: into)
            }
        }
        tap(0)
        for (depth, (layer, packedLayer)) in zip(layers, packed.layers).enumerated() {
            forward(
                layer, packedLayer, small: small, sequences: sequences, rows: rows, workspace: workspace, ways: ways)
            tap(depth + 1)
        }
        pool(sequences, pooling: pooling, hidden: hidden, into: pooled)
    }

    /// One encoder layer over `rows` packed token rows (the real tokens of `sequences`, then padding rows); the
    /// dense products on `packedLayer` with the small-row kernel when `small` names its instruction set and weights, else
    /// OpenBLAS on `layer`.
    private func forward(
        _ layer: MiniLM.Layer, _ packedLayer: MiniLM.PackedLayer, small: (isa: catimage_isa, bfloat16: Bool)?,
        sequences: [[Int32]],
        rows: Int, workspace: MiniLM.Workspace, ways: Int
    ) {
        let h = configuration.hiddenSize
        let i = configuration.intermediateSize
        let heads = configuration.headCount
        let d = configuration.headSize
        let hidden = workspace.hidden
        let qkv = workspace.qkv
        let context = workspace.context
        let residual = workspace.residual
        let intermediate = workspace.intermediate
        let scores = workspace.scores

        // [T, 3H] = hidden · Wqkvᵀ + b
        let fused = layer.attention.selfAttention.fused
        if let small {
            MiniLM.SmallProduct.run(
                isa: small.isa, bfloat16: small.bfloat16, rows: rows, packedLayer.queryKeyValue, a: hidden, lda: h,
                residual: nil, ldr: 0, c: qkv,
                ldc: 3 * h, gelu: false, ways: ways)
        } else {
            Kernels.broadcastRows(fused.bias, into: qkv, rows: rows, count: 3 * h)
            Self.dense(
                rows: rows, n: 3 * h, k: h, a: hidden, lda: h, b: fused.transposedWeight,
                ldb: fused.leadingDimension, c: qkv, ldc: 3 * h, ways: ways)
        }

        // Scaled dot-product attention, per sequence and head.
        let scale = 1 / Float(d).squareRoot()
        var start = 0
        for sequence in sequences {
            let n = sequence.count
            for head in 0..<heads {
                let query = qkv + start * 3 * h + head * d
                let key = query + h
                let value = query + 2 * h
                if n <= Self.shortAttentionLength && d % 8 == 0 {
                    Kernels.shortAttention(
                        query: query, key: key, value: value, inputStride: 3 * h,
                        context: context + start * h + head * d,
                        outputStride: h, count: n, size: d, scale: scale, scores: scores)
                    continue
                }
                BLAS.sgemm(
                    transposeA: false, transposeB: true, m: n, n: n, k: d, alpha: scale, a: query, lda: 3 * h,
                    b: key, ldb: 3 * h, c: scores, ldc: n)
                for r in 0..<n { Kernels.softmax(scores + r * n, count: n) }
                BLAS.sgemm(
                    transposeA: false, transposeB: false, m: n, n: d, k: n, a: scores, lda: n, b: value,
                    ldb: 3 * h, c: context + start * h + head * d, ldc: h)
            }
            start += n
        }

        // attention.output: LayerNorm(context · Woᵀ + b + hidden)
        let attentionOutput = layer.attention.output
        if let small {
            MiniLM.SmallProduct.run(
                isa: small.isa, bfloat16: small.bfloat16, rows: rows, packedLayer.attentionOutput, a: context, lda: h,
                residual: hidden, ldr: h,
                c: residual, ldc: h, gelu: false, ways: ways)
        } else {
            Kernels.addRow(attentionOutput.dense.bias, to: hidden, into: residual, rows: rows, count: h)
            Self.dense(
                rows: rows, n: h, k: h, a: context, lda: h, b: attentionOutput.dense.transposedWeight,
                ldb: attentionOutput.dense.leadingDimension, c: residual, ldc: h, ways: ways)
        }
        Kernels.layerNorm(residual, into: hidden, rows: rows, attentionOutput.layerNorm)

        // intermediate: GELU(hidden · Wiᵀ + b)
        if let small {
            MiniLM.SmallProduct.run(
                isa: small.isa, bfloat16: small.bfloat16, rows: rows, packedLayer.intermediate, a: hidden, lda: h,
                residual: nil, ldr: 0,
                c: intermediate, ldc: i, gelu: true, ways: ways)
        } else {
            Kernels.broadcastRows(layer.intermediate.bias, into: intermediate, rows: rows, count: i)
            Self.dense(
                rows: rows, n: i, k: h, a: hidden, lda: h, b: layer.intermediate.transposedWeight,
                ldb: layer.intermediate.leadingDimension, c: intermediate, ldc: i, ways: ways)
            Kernels.gelu(intermediate, count: rows * i)
        }

        // output: LayerNorm(intermediate · Wo2ᵀ + b + hidden)
        let output = layer.output
        if let small {
            MiniLM.SmallProduct.run(
                isa: small.isa, bfloat16: small.bfloat16, rows: rows, packedLayer.output, a: intermediate, lda: i,
                residual: hidden, ldr: h,
                c: residual, ldc: h, gelu: false, ways: ways)
        } else {
            Kernels.addRow(output.dense.bias, to: hidden, into: residual, rows: rows, count: h)
            Self.dense(
                rows: rows, n: h, k: i, a: intermediate, lda: i, b: output.dense.transposedWeight,
                ldb: output.dense.leadingDimension, c: residual, ldc: h, ways: ways)
        }
        Kernels.layerNorm(residual, into: hidden, rows: rows, output.layerNorm)
    }

    /// `C[rows, n] += A[rows, k] · B[k, n]` (row strides `lda`, `ldb`, `ldc`), the columns split into `ways`
    /// blocks of whole 16-column panels that run on as many threads at once. Every output element is the same
    /// dot product whatever the split, so results do not depend on `ways`.
    static func dense(
        rows: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, ways: Int
    ) {
        let parts = max(1, min(ways, n / 64))
        guard parts > 1 else {
            BLAS.sgemm(
                transposeA: false, transposeB: false, m: rows, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: 1,
                c: c, ldc: ldc)
            return
        }
        let panels = (n + 15) / 16
        let operands = DenseOperands(a: a, b: b, c: c)
        SpinningHelpers.shared.run(parts: parts) { part in
            let first = part * panels / parts * 16
            let last = min(n, (part + 1) * panels / parts * 16)
            guard first < last else { return }
            BLAS.sgemm(
                transposeA: false, transposeB: false, m: rows, n: last - first, k: k, a: operands.a, lda: lda,
                b: operands.b + first, ldb: ldb, beta: 1, c: operands.c + first, ldc: ldc)
        }
    }

    /// Pooling over each sequence's tokens (sentence-transformers' order of modes: cls, mean, max,
    /// mean-sqrt-len, concatenated), then L2 normalisation unless the pooling turns it off.
    private func pool(
        _ sequences: [[Int32]], pooling: MiniLM.PoolingConfiguration, hidden: UnsafePointer<Float>,
        into pooled: UnsafeMutablePointer<Float>
    ) {
        let h = configuration.hiddenSize
        let dimension = h * pooling.modeCount
        var start = 0
        for (index, sequence) in sequences.enumerated() {
            let n = sequence.count
            let target = pooled + index * dimension
            var offset = 0
            let tokens = hidden + start * h
            if pooling.clsToken {
                (target + offset).update(from: tokens, count: h)
                offset += h
            }
            if pooling.meanTokens {
                Self.sumRows(tokens, rows: n, count: h, into: target + offset, scale: 1 / Float(n))
                offset += h
            }
            if pooling.maxTokens {
                let maxima = target + offset
                maxima.update(from: tokens, count: h)
                for t in 1..<max(n, 1) {
                    let token = tokens + t * h
                    for c in 0..<h { maxima[c] = max(maxima[c], token[c]) }
                }
                offset += h
            }
            if pooling.meanSqrtLengthTokens {
                Self.sumRows(tokens, rows: n, count: h, into: target + offset, scale: 1 / Float(n).squareRoot())
                offset += h
            }
            if pooling.normalizesOutput {
                var norm: Float = 0
                for c in 0..<dimension { norm += target[c] * target[c] }
                if norm > 0 {
                    let scale = 1 / max(norm.squareRoot(), 1e-12)
                    for c in 0..<dimension { target[c] *= scale }
                }
            }
            start += n
        }
    }

    /// `destination = scale · Σ rows of source`.
    private static func sumRows(
        _ source: UnsafePointer<Float>, rows: Int, count: Int, into destination: UnsafeMutablePointer<Float>,
        scale: Float
    ) {
        destination.update(repeating: 0, count: count)
        for r in 0..<rows {
            let row = source + r * count
            for c in 0..<count { destination[c] += row[c] }
        }
        for c in 0..<count { destination[c] *= scale }
    }
}

/// The buffers of one split dense product, shared by the threads that each write their own columns of `c`.
private struct DenseOperands: @unchecked Sendable {
    let a: UnsafePointer<Float>
    let b: UnsafePointer<Float>
    let c: UnsafeMutablePointer<Float>
}
