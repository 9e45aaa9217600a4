import CATImageCore
import Foundation

extension FineTunedModel {
    /// Writes the fine-tuned encoder as a sentence-transformers folder: every file of `baseDirectory` (tokenizer,
    /// configuration, pooling) except its weights, and `model.safetensors` with the fine-tuned encoder tensors.
    ///
    /// `SentenceEncoder(directory:)` then runs the fine-tuned encoder with the inference code of the frozen one,
    /// at the same speed; with a head on normalised embeddings (``RegressionHeadConfig/normalizesEmbedding``),
    /// ``predictTargets(fromEmbeddings:)`` finishes the prediction from its output.
    public func writeEncoderFolder(to directory: String, copyingFrom baseDirectory: String) throws(FineTuneError) {
        let files = FileManager.default
        do {
            try files.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for name in try files.contentsOfDirectory(atPath: baseDirectory) where name != "model.safetensors" {
                let target = (directory as NSString).appendingPathComponent(name)
                if files.fileExists(atPath: target) { try files.removeItem(atPath: target) }
                try files.copyItem(atPath: (baseDirectory as NSString).appendingPathComponent(name), toPath: target)
            }
        } catch {
            throw FineTuneError("cannot copy \(baseDirectory) into \(directory): \(error.localizedDescription)")
        }
        let encoderTensors = model.tensors().filter { !$0.key.hasPrefix("head.") }
        let path = (directory as NSString).appendingPathComponent("model.safetensors")
        do {
            try SafetensorsWriter.write(tensors: encoderTensors, metadata: ["format": "pt"], to: path)
        } catch {
            throw FineTuneError("cannot write \(path): \(error)")
        }
    }

    /// Standardized predictions `[N][M]` of the head from the fine-tuned encoder's pooled vectors `[N, D]`, as the
    /// head reads them: L2-normalised when ``RegressionHeadConfig/normalizesEmbedding`` is on (what
    /// `SentenceEncoder` on ``writeEncoderFolder(to:copyingFrom:)``'s folder returns), the raw mean otherwise.
    public func predictTargets(fromEmbeddings embeddings: [Float]) -> [[Double]] {
        let layout = model.layout
        let d = layout.encoder.hiddenSize
        let m = layout.head.outputCount
        precondition(embeddings.count % d == 0, "embeddings must be [N, \(d)]")
        let n = embeddings.count / d
        guard n > 0 else { return [] }
        var outputs = [Float](repeating: 0, count: n * m)
        model.values.withUnsafeBufferPointer { w in
            let parameters = w.baseAddress!
            embeddings.withUnsafeBufferPointer { x in
                outputs.withUnsafeMutableBufferPointer { y in
                    var input = x.baseAddress!
                    var width = d
                    var hidden: [Float] = []
                    if layout.head.hiddenSize > 0 {
                        let k = layout.head.hiddenSize
                        hidden = [Float](repeating: 0, count: n * k)
                        hidden.withUnsafeMutableBufferPointer { h in
                            Kernels.linear(
                                input, rows: n, inputs: d, weight: parameters + layout.offset("head.hidden.weight"),
                                bias: parameters + layout.offset("head.hidden.bias"), outputs: k, into: h.baseAddress!)
                            for i in 0..<(n * k) { h[i] = Kernels.gelu(h[i]) }
                        }
                        width = k
                    }
                    hidden.withUnsafeBufferPointer { h in
                        if width != d { input = h.baseAddress! }
                        Kernels.linear(
                            input, rows: n, inputs: width, weight: parameters + layout.offset("head.output.weight"),
                            bias: parameters + layout.offset("head.output.bias"), outputs: m, into: y.baseAddress!)
                    }
                }
            }
        }
        return (0..<n).map { i in (0..<m).map { Double(outputs[i * m + $0]) } }
    }
}
