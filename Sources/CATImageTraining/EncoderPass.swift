import CATImageCore
import CATImageEncoder

/// One forward pass of the encoder and head over a ``TokenBatch``, keeping what the backward pass needs.
///
/// Shapes: `N = count × sequenceLength` token rows, `H` hidden, `I` intermediate, `A` heads of width `d`, `M`
/// outputs. Attention runs per prompt and head on strided views of `Q`, `K`, `V` `[N, H]` (leading dimension
/// `H`), so every product is one `gemm` without copies. Padding keys are masked out of the softmax, and the
/// mean pooling sums only each prompt's real tokens.
final class EncoderPass<T: TrainingScalar> {
    let layout: ParameterLayout
    let batch: TokenBatch
    let dropout: DropoutPlan?

    /// Per-layer activations.
    final class LayerCache {
        let input: ScalarBuffer<T>  // [N, H]
        let query, key, value, context: ScalarBuffer<T>  // [N, H]
        let probabilities: ScalarBuffer<T>  // [B, A, T, T]
        let droppedProbabilities: ScalarBuffer<T>?  // P ⊙ mask
        let probabilityMask: ScalarBuffer<T>?
        let attentionMask: ScalarBuffer<T>?  // [N, H]
        let normalized1: ScalarBuffer<T>
        let inverse1: ScalarBuffer<T>  // [N]
        let hidden1: ScalarBuffer<T>  // [N, H]
        let preActivation, activation: ScalarBuffer<T>  // [N, I]
        let outputMask: ScalarBuffer<T>?
        let normalized2: ScalarBuffer<T>
        let inverse2: ScalarBuffer<T>
        let output: ScalarBuffer<T>  // [N, H]

        init(input: ScalarBuffer<T>, rows n: Int, config c: MiniLM.Configuration, batch: TokenBatch, drops: Bool) {
            let h = c.hiddenSize
            self.input = input
            query = ScalarBuffer(count: n * h)
            key = ScalarBuffer(count: n * h)
            value = ScalarBuffer(count: n * h)
            context = ScalarBuffer(count: n * h)
            let p = batch.count * c.headCount * batch.sequenceLength * batch.sequenceLength
            probabilities = ScalarBuffer(count: p)
            let attentionDrops = drops && c.attentionDropout > 0
            droppedProbabilities = attentionDrops ? ScalarBuffer(count: p) : nil
            probabilityMask = attentionDrops ? ScalarBuffer(count: p) : nil
            let hiddenDrops = drops && c.hiddenDropout > 0
            attentionMask = hiddenDrops ? ScalarBuffer(count: n * h) : nil
            normalized1 = ScalarBuffer(count: n * h)
            inverse1 = ScalarBuffer(count: n)
            hidden1 = ScalarBuffer(count: n * h)
            preActivation = ScalarBuffer(count: n * c.intermediateSize)
            activation = ScalarBuffer(count: n * c.intermediateSize)
            outputMask = hiddenDrops ? ScalarBuffer(count: n * h) : nil
            normalized2 = ScalarBuffer(count: n * h)
            inverse2 = ScalarBuffer(count: n)
            output = ScalarBuffer(count: n * h)
        }
    }

    let embeddingNormalized: ScalarBuffer<T>
    let embeddingInverse: ScalarBuffer<T>
    let embeddingMask: ScalarBuffer<T>?
    var layers: [LayerCache] = []
    /// Mean-pooled vectors `[B, H]`, and their norms.
    let pooled: ScalarBuffer<T>
    let pooledNorms: ScalarBuffer<T>
    /// The head's input `[B, H]` (pooled, normalised when configured).
    let headInput: ScalarBuffer<T>
    let headPreActivation: ScalarBuffer<T>?
    let headActivation: ScalarBuffer<T>?
    /// Outputs `[B, M]`.
    let outputs: ScalarBuffer<T>

    /// Runs the forward pass. With `dropout`, draws masks from it (training mode); without, no dropout.
    init(parameters: UnsafePointer<T>, layout: ParameterLayout, batch: TokenBatch, dropout: DropoutPlan?) {
        self.layout = layout
        self.batch = batch
        self.dropout = dropout
        let c = layout.encoder
        let h = c.hiddenSize
        let seqLen = batch.sequenceLength
        let n = batch.rowCount
        let epsilon = T(c.layerNormEpsilon)
        var generators = (0..<batch.count).map { b in
            SeededGenerator(seed: dropout?.seed(forPrompt: b) ?? 0)
        }

        // Embeddings: word + position + token type 0, LayerNorm, dropout.
        let word = parameters + layout.offset("embeddings.word_embeddings.weight")
        let position = parameters + layout.offset("embeddings.position_embeddings.weight")
        let type0 = parameters + layout.offset("embeddings.token_type_embeddings.weight")
        let sum = ScalarBuffer<T>(count: n * h)
        for b in 0..<batch.count {
            for t in 0..<seqLen {
                let row = b * seqLen + t
                let id = Int(batch.tokenIDs[row])
                precondition(id >= 0 && id < c.vocabularySize, "token id \(id) outside the vocabulary")
                let out = sum.pointer + row * h
                let w = word + id * h
                let p = position + t * h
                for i in 0..<h { out[i] = w[i] + p[i] + type0[i] }
            }
        }
        embeddingNormalized = ScalarBuffer(count: n * h)
        embeddingInverse = ScalarBuffer(count: n)
        let embedded = ScalarBuffer<T>(count: n * h)
        Kernels.layerNorm(
            sum.pointer, rows: n, width: h, gamma: parameters + layout.offset("embeddings.LayerNorm.weight"),
            beta: parameters + layout.offset("embeddings.LayerNorm.bias"), epsilon: epsilon,
            output: embedded.pointer, normalized: embeddingNormalized.pointer,
            inverseDeviation: embeddingInverse.pointer)
        if dropout != nil && c.hiddenDropout > 0 {
            let mask = ScalarBuffer<T>(count: n * h)
            for b in 0..<batch.count {
                Kernels.dropoutMask(
                    mask.pointer + b * seqLen * h, count: seqLen * h, probability: c.hiddenDropout,
                    generator: &generators[b])
            }
            for i in 0..<(n * h) { embedded[i] *= mask[i] }
            embeddingMask = mask
        } else {
            embeddingMask = nil
        }

        var current = embedded
        for l in 0..<c.layerCount {
            let cache = LayerCache(input: current, rows: n, config: c, batch: batch, drops: dropout != nil)
            Self.layerForward(
                cache, parameters: parameters, offsets: layout.layerOffsets(l), config: c, batch: batch,
                generators: &generators)
            layers.append(cache)
            current = cache.output
        }

        // Mean pooling over each prompt's real tokens, then optional L2 normalisation.
        let bCount = batch.count
        pooled = ScalarBuffer(count: bCount * h)
        pooledNorms = ScalarBuffer(count: bCount)
        headInput = ScalarBuffer(count: bCount * h)
        for b in 0..<bCount {
            let out = pooled.pointer + b * h
            let length = batch.lengths[b]
            for t in 0..<length {
                let row = current.pointer + (b * seqLen + t) * h
                for i in 0..<h { out[i] += row[i] }
            }
            let scale = 1 / T(length)
            var squares: T = 0
            for i in 0..<h {
                out[i] *= scale
                squares += out[i] * out[i]
            }
            let norm = max(squares.squareRoot(), T(1e-12))
            pooledNorms[b] = norm
            let normalizes = layout.head.normalizesEmbedding
            for i in 0..<h { headInput[b * h + i] = normalizes ? out[i] / norm : out[i] }
        }

        // Head: linear, or one GELU hidden layer then linear.
        let m = layout.head.outputCount
        outputs = ScalarBuffer(count: bCount * m)
        var headFeatures = headInput
        var width = h
        if layout.head.hiddenSize > 0 {
            let k = layout.head.hiddenSize
            let pre = ScalarBuffer<T>(count: bCount * k)
            let act = ScalarBuffer<T>(count: bCount * k)
            Kernels.linear(
                headInput.pointer, rows: bCount, inputs: h, weight: parameters + layout.offset("head.hidden.weight"),
                bias: parameters + layout.offset("head.hidden.bias"), outputs: k, into: pre.pointer)
            for i in 0..<(bCount * k) { act[i] = Kernels.gelu(pre[i]) }
            headPreActivation = pre
            headActivation = act
            headFeatures = act
            width = k
        } else {
            headPreActivation = nil
            headActivation = nil
        }
        Kernels.linear(
            headFeatures.pointer, rows: bCount, inputs: width, weight: parameters + layout.offset("head.output.weight"),
            bias: parameters + layout.offset("head.output.bias"), outputs: m, into: outputs.pointer)
    }

    private static func layerForward(
        _ cache: LayerCache, parameters w: UnsafePointer<T>, offsets o: ParameterLayout.LayerOffsets,
        config c: MiniLM.Configuration, batch: TokenBatch, generators: inout [SeededGenerator]
    ) {
        let h = c.hiddenSize
        let n = batch.rowCount
        let seqLen = batch.sequenceLength
        let heads = c.headCount
        let d = c.headSize
        let x = cache.input.pointer
        Kernels.linear(
            x, rows: n, inputs: h, weight: w + o.query, bias: w + o.queryBias, outputs: h, into: cache.query.pointer)
        Kernels.linear(
            x, rows: n, inputs: h, weight: w + o.key, bias: w + o.keyBias, outputs: h, into: cache.key.pointer)
        Kernels.linear(
            x, rows: n, inputs: h, weight: w + o.value, bias: w + o.valueBias, outputs: h, into: cache.value.pointer)
        let scale = 1 / T(d).squareRoot()
        let square = seqLen * seqLen
        for b in 0..<batch.count {
            let length = batch.lengths[b]
            for a in 0..<heads {
                let base = b * seqLen * h + a * d
                let probabilities = cache.probabilities.pointer + (b * heads + a) * square
                T.gemm(
                    transposeA: false, transposeB: true, m: seqLen, n: seqLen, k: d, alpha: scale,
                    a: cache.query.pointer + base, lda: h, b: cache.key.pointer + base, ldb: h, beta: 0,
                    c: probabilities, ldc: seqLen)
                for i in 0..<seqLen {
                    let row = probabilities + i * seqLen
                    var largest = row[0]
                    for j in 1..<length { largest = max(largest, row[j]) }
                    var total: T = 0
                    for j in 0..<length {
                        row[j] = T.exponential(row[j] - largest)
                        total += row[j]
                    }
                    let inverse = 1 / total
                    for j in 0..<length { row[j] *= inverse }
                    for j in length..<seqLen { row[j] = 0 }
                }
                var used = UnsafePointer(probabilities)
                if let mask = cache.probabilityMask, let dropped = cache.droppedProbabilities {
                    let maskRows = mask.pointer + (b * heads + a) * square
                    let droppedRows = dropped.pointer + (b * heads + a) * square
                    Kernels.dropoutMask(
                        maskRows, count: square, probability: c.attentionDropout, generator: &generators[b])
                    for i in 0..<square { droppedRows[i] = probabilities[i] * maskRows[i] }
                    used = UnsafePointer(droppedRows)
                }
                T.gemm(
                    transposeA: false, transposeB: false, m: seqLen, n: d, k: seqLen, alpha: 1, a: used, lda: seqLen,
                    b: cache.value.pointer + base, ldb: h, beta: 0, c: cache.context.pointer + base, ldc: h)
            }
        }
        // Attention output: dense, dropout, residual, LayerNorm.
        let residual = ScalarBuffer<T>(count: n * h)
        Kernels.linear(
            cache.context.pointer, rows: n, inputs: h, weight: w + o.attentionOutput, bias: w + o.attentionOutputBias,
            outputs: h, into: residual.pointer)
        if let mask = cache.attentionMask {
            for b in 0..<batch.count {
                Kernels.dropoutMask(
                    mask.pointer + b * seqLen * h, count: seqLen * h, probability: c.hiddenDropout,
                    generator: &generators[b])
            }
            let r = residual.pointer
            let k = mask.pointer
            for i in 0..<(n * h) { r[i] *= k[i] }
        }
        let r1 = residual.pointer
        for i in 0..<(n * h) { r1[i] += x[i] }
        let epsilon = T(c.layerNormEpsilon)
        Kernels.layerNorm(
            residual.pointer, rows: n, width: h, gamma: w + o.attentionNormWeight, beta: w + o.attentionNormBias,
            epsilon: epsilon, output: cache.hidden1.pointer, normalized: cache.normalized1.pointer,
            inverseDeviation: cache.inverse1.pointer)
        // Feed-forward: dense, GELU, dense, dropout, residual, LayerNorm.
        let inner = c.intermediateSize
        Kernels.linear(
            cache.hidden1.pointer, rows: n, inputs: h, weight: w + o.intermediate, bias: w + o.intermediateBias,
            outputs: inner, into: cache.preActivation.pointer)
        let pre = cache.preActivation.pointer
        let act = cache.activation.pointer
        for i in 0..<(n * inner) { act[i] = Kernels.gelu(pre[i]) }
        Kernels.linear(
            cache.activation.pointer, rows: n, inputs: inner, weight: w + o.output, bias: w + o.outputBias, outputs: h,
            into: residual.pointer)
        if let mask = cache.outputMask {
            for b in 0..<batch.count {
                Kernels.dropoutMask(
                    mask.pointer + b * seqLen * h, count: seqLen * h, probability: c.hiddenDropout,
                    generator: &generators[b])
            }
            let r = residual.pointer
            let k = mask.pointer
            for i in 0..<(n * h) { r[i] *= k[i] }
        }
        let r2 = residual.pointer
        let h1 = cache.hidden1.pointer
        for i in 0..<(n * h) { r2[i] += h1[i] }
        Kernels.layerNorm(
            residual.pointer, rows: n, width: h, gamma: w + o.outputNormWeight, beta: w + o.outputNormBias,
            epsilon: epsilon, output: cache.output.pointer, normalized: cache.normalized2.pointer,
            inverseDeviation: cache.inverse2.pointer)
    }
}
