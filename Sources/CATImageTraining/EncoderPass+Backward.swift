extension EncoderPass {
    /// Accumulates into `gradient` (laid out as the parameters) the gradient of a loss whose derivative with
    /// respect to ``outputs`` is `outputGradient` `[B, M]`.
    func backward(parameters w: UnsafePointer<T>, outputGradient: UnsafePointer<T>, gradient g: UnsafeMutablePointer<T>)
    {
        let c = layout.encoder
        let h = c.hiddenSize
        let bCount = batch.count
        let seqLen = batch.sequenceLength
        let n = batch.rowCount
        let m = layout.head.outputCount

        // Head.
        let dInput = ScalarBuffer<T>(count: bCount * h)
        if let pre = headPreActivation, let act = headActivation {
            let k = layout.head.hiddenSize
            let dAct = ScalarBuffer<T>(count: bCount * k)
            Kernels.linearBackward(
                outputGradient, x: act.pointer, rows: bCount, inputs: k, outputs: m,
                weight: w + layout.offset("head.output.weight"),
                weightGradient: g + layout.offset("head.output.weight"),
                biasGradient: g + layout.offset("head.output.bias"), inputGradient: dAct.pointer)
            for i in 0..<(bCount * k) { dAct[i] *= Kernels.geluDerivative(pre[i]) }
            Kernels.linearBackward(
                dAct.pointer, x: headInput.pointer, rows: bCount, inputs: h, outputs: k,
                weight: w + layout.offset("head.hidden.weight"),
                weightGradient: g + layout.offset("head.hidden.weight"),
                biasGradient: g + layout.offset("head.hidden.bias"), inputGradient: dInput.pointer)
        } else {
            Kernels.linearBackward(
                outputGradient, x: headInput.pointer, rows: bCount, inputs: h, outputs: m,
                weight: w + layout.offset("head.output.weight"),
                weightGradient: g + layout.offset("head.output.weight"),
                biasGradient: g + layout.offset("head.output.bias"), inputGradient: dInput.pointer)
        }

        // L2 normalisation: dp = (dz − z (z·dz)) / ‖p‖; then mean pooling spreads dp over real tokens.
        var dHidden = ScalarBuffer<T>(count: n * h)
        for b in 0..<bCount {
            let dz = dInput.pointer + b * h
            if layout.head.normalizesEmbedding {
                let z = headInput.pointer + b * h
                var dot: T = 0
                for i in 0..<h { dot += z[i] * dz[i] }
                let inverse = 1 / pooledNorms[b]
                for i in 0..<h { dz[i] = (dz[i] - z[i] * dot) * inverse }
            }
            let length = batch.lengths[b]
            let scale = 1 / T(length)
            for t in 0..<length {
                let row = dHidden.pointer + (b * seqLen + t) * h
                for i in 0..<h { row[i] = dz[i] * scale }
            }
        }

        for l in stride(from: c.layerCount - 1, through: 0, by: -1) {
            dHidden = layerBackward(
                layers[l], dOutput: dHidden, parameters: w, offsets: layout.layerOffsets(l), gradient: g)
        }

        // Embeddings: dropout, LayerNorm, then scatter into the three tables.
        if let mask = embeddingMask { for i in 0..<(n * h) { dHidden[i] *= mask[i] } }
        let dSum = ScalarBuffer<T>(count: n * h)
        Kernels.layerNormBackward(
            dHidden.pointer, normalized: embeddingNormalized.pointer, inverseDeviation: embeddingInverse.pointer,
            rows: n, width: h, gamma: w + layout.offset("embeddings.LayerNorm.weight"),
            gammaGradient: g + layout.offset("embeddings.LayerNorm.weight"),
            betaGradient: g + layout.offset("embeddings.LayerNorm.bias"), inputGradient: dSum.pointer)
        let dWord = g + layout.offset("embeddings.word_embeddings.weight")
        let dPosition = g + layout.offset("embeddings.position_embeddings.weight")
        let dType = g + layout.offset("embeddings.token_type_embeddings.weight")
        for b in 0..<bCount {
            for t in 0..<seqLen {
                let row = b * seqLen + t
                let d = dSum.pointer + row * h
                let word = dWord + Int(batch.tokenIDs[row]) * h
                let position = dPosition + t * h
                for i in 0..<h {
                    word[i] += d[i]
                    position[i] += d[i]
                    dType[i] += d[i]
                }
            }
        }
    }

    /// Backward of one layer: accumulates its parameter gradients and returns the gradient of its input.
    private func layerBackward(
        _ cache: LayerCache, dOutput: ScalarBuffer<T>, parameters w: UnsafePointer<T>,
        offsets o: ParameterLayout.LayerOffsets, gradient g: UnsafeMutablePointer<T>
    ) -> ScalarBuffer<T> {
        let c = layout.encoder
        let h = c.hiddenSize
        let inner = c.intermediateSize
        let n = batch.rowCount
        let seqLen = batch.sequenceLength
        let heads = c.headCount
        let d = c.headSize

        // Output LayerNorm → residual (to hidden1) and feed-forward branch.
        let dResidual2 = ScalarBuffer<T>(count: n * h)
        Kernels.layerNormBackward(
            dOutput.pointer, normalized: cache.normalized2.pointer, inverseDeviation: cache.inverse2.pointer, rows: n,
            width: h, gamma: w + o.outputNormWeight, gammaGradient: g + o.outputNormWeight,
            betaGradient: g + o.outputNormBias, inputGradient: dResidual2.pointer)
        let dBranch = ScalarBuffer<T>(count: n * h)
        if let mask = cache.outputMask {
            for i in 0..<(n * h) { dBranch[i] = dResidual2[i] * mask[i] }
        } else {
            dBranch.pointer.update(from: dResidual2.pointer, count: n * h)
        }
        let dActivation = ScalarBuffer<T>(count: n * inner)
        Kernels.linearBackward(
            dBranch.pointer, x: cache.activation.pointer, rows: n, inputs: inner, outputs: h, weight: w + o.output,
            weightGradient: g + o.output, biasGradient: g + o.outputBias, inputGradient: dActivation.pointer)
        let dAct = dActivation.pointer
        let pre = cache.preActivation.pointer
        for i in 0..<(n * inner) { dAct[i] *= Kernels.geluDerivative(pre[i]) }
        // dHidden1 = residual path + feed-forward input path.
        let dHidden1 = dResidual2
        Kernels.linearBackward(
            dActivation.pointer, x: cache.hidden1.pointer, rows: n, inputs: h, outputs: inner,
            weight: w + o.intermediate, weightGradient: g + o.intermediate, biasGradient: g + o.intermediateBias,
            inputGradient: dHidden1.pointer, accumulateInput: true)

        // Attention LayerNorm → residual (to the input) and attention branch.
        let dResidual1 = ScalarBuffer<T>(count: n * h)
        Kernels.layerNormBackward(
            dHidden1.pointer, normalized: cache.normalized1.pointer, inverseDeviation: cache.inverse1.pointer,
            rows: n, width: h, gamma: w + o.attentionNormWeight, gammaGradient: g + o.attentionNormWeight,
            betaGradient: g + o.attentionNormBias, inputGradient: dResidual1.pointer)
        if let mask = cache.attentionMask {
            for i in 0..<(n * h) { dBranch[i] = dResidual1[i] * mask[i] }
        } else {
            dBranch.pointer.update(from: dResidual1.pointer, count: n * h)
        }
        let dContext = ScalarBuffer<T>(count: n * h)
        Kernels.linearBackward(
            dBranch.pointer, x: cache.context.pointer, rows: n, inputs: h, outputs: h, weight: w + o.attentionOutput,
            weightGradient: g + o.attentionOutput, biasGradient: g + o.attentionOutputBias,
            inputGradient: dContext.pointer)

        // Attention per prompt and head.
        let dQuery = ScalarBuffer<T>(count: n * h)
        let dKey = ScalarBuffer<T>(count: n * h)
        let dValue = ScalarBuffer<T>(count: n * h)
        let square = seqLen * seqLen
        let scratch = ScalarBuffer<T>(count: square)
        let scale = 1 / T(d).squareRoot()
        for b in 0..<batch.count {
            let length = batch.lengths[b]
            for a in 0..<heads {
                let base = b * seqLen * h + a * d
                let at = (b * heads + a) * square
                let probabilities = cache.probabilities.pointer + at
                let used = UnsafePointer(cache.droppedProbabilities.map { $0.pointer + at } ?? probabilities)
                // dP' = dC Vᵀ; dV = P'ᵀ dC.
                T.gemm(
                    transposeA: false, transposeB: true, m: seqLen, n: seqLen, k: d, alpha: 1,
                    a: dContext.pointer + base, lda: h, b: cache.value.pointer + base, ldb: h, beta: 0,
                    c: scratch.pointer, ldc: seqLen)
                T.gemm(
                    transposeA: true, transposeB: false, m: seqLen, n: d, k: seqLen, alpha: 1, a: used, lda: seqLen,
                    b: dContext.pointer + base, ldb: h, beta: 0, c: dValue.pointer + base, ldc: h)
                if let mask = cache.probabilityMask {
                    for i in 0..<square { scratch[i] *= mask[at + i] }
                }
                // Softmax: dS = P ⊙ (dP − Σ_j dP·P), times the 1/√d scale of the scores.
                for i in 0..<seqLen {
                    let p = probabilities + i * seqLen
                    let dp = scratch.pointer + i * seqLen
                    var dot: T = 0
                    for j in 0..<length { dot += p[j] * dp[j] }
                    for j in 0..<length { dp[j] = p[j] * (dp[j] - dot) * scale }
                    for j in length..<seqLen { dp[j] = 0 }
                }
                T.gemm(
                    transposeA: false, transposeB: false, m: seqLen, n: d, k: seqLen, alpha: 1, a: scratch.pointer,
                    lda: seqLen, b: cache.key.pointer + base, ldb: h, beta: 0, c: dQuery.pointer + base, ldc: h)
                T.gemm(
                    transposeA: true, transposeB: false, m: seqLen, n: d, k: seqLen, alpha: 1, a: scratch.pointer,
                    lda: seqLen, b: cache.query.pointer + base, ldb: h, beta: 0, c: dKey.pointer + base, ldc: h)
            }
        }
        // dInput = residual path + the three projections.
        let dInput = dResidual1
        let x = cache.input.pointer
        Kernels.linearBackward(
            dQuery.pointer, x: x, rows: n, inputs: h, outputs: h, weight: w + o.query, weightGradient: g + o.query,
            biasGradient: g + o.queryBias, inputGradient: dInput.pointer, accumulateInput: true)
        Kernels.linearBackward(
            dKey.pointer, x: x, rows: n, inputs: h, outputs: h, weight: w + o.key, weightGradient: g + o.key,
            biasGradient: g + o.keyBias, inputGradient: dInput.pointer, accumulateInput: true)
        Kernels.linearBackward(
            dValue.pointer, x: x, rows: n, inputs: h, outputs: h, weight: w + o.value, weightGradient: g + o.value,
            biasGradient: g + o.valueBias, inputGradient: dInput.pointer, accumulateInput: true)
        return dInput
    }
}
