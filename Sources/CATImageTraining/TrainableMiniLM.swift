import CATImageCore
import CATImageEncoder
import Foundation

/// A MiniLM (BERT) encoder with a regression head, as one flat parameter vector that can be trained.
///
/// The same code runs in Float32 (training, inference) and Float64 (gradient checks).
public struct TrainableMiniLM<T: TrainingScalar>: Sendable {
    /// Where each tensor lives in ``values``.
    public let layout: ParameterLayout
    /// Every parameter, encoder first, then head.
    public var values: [T]

    /// A model with BERT's initialisation (normal(0, 0.02) matrices, unit LayerNorm) and a PyTorch-default head,
    /// drawn from `seed`: for tests and for the head of a pretrained encoder.
    public init(layout: ParameterLayout, seed: UInt64) {
        self.layout = layout
        values = [T](repeating: 0, count: layout.count)
        var generator = SeededGenerator(seed: seed)
        for entry in layout.entries {
            if entry.isHead {
                continue
            } else if entry.name.hasSuffix("LayerNorm.weight") {
                for i in entry.range { values[i] = 1 }
            } else if entry.shape.count == 2 {
                for i in entry.range { values[i] = T(generator.nextGaussian() * 0.02) }
            }
        }
        resetHead(seed: seed &+ 1)
    }

    /// The pretrained encoder of a sentence-transformers folder (`config.json`, `model.safetensors`) with a new head
    /// drawn from `seed`.
    public init(directory: String, head: RegressionHeadConfig, seed: UInt64) throws(FineTuneError) {
        let config: MiniLM.Configuration
        do {
            config = try MiniLM.Configuration.load((directory as NSString).appendingPathComponent("config.json"))
        } catch {
            throw FineTuneError(error.description)
        }
        let weights: SafetensorsFile
        let path = (directory as NSString).appendingPathComponent("model.safetensors")
        do {
            weights = try SafetensorsFile(contentsOf: path)
        } catch {
            throw FineTuneError("cannot open \(path): \(error)")
        }
        self.init(layout: ParameterLayout(encoder: config, head: head), seed: seed)
        try load(from: weights, includingHead: false)
    }

    /// Copies tensors of `file` into the model by name (encoder, and head when `includingHead`).
    ///
    /// A checkpoint may prefix names (`bert.`); both plain and prefixed names are accepted.
    public mutating func load(from file: SafetensorsFile, includingHead: Bool) throws(FineTuneError) {
        for entry in layout.entries where includingHead || !entry.isHead {
            let name = [entry.name, "bert." + entry.name].first { file.contains($0) }
            guard let name else { throw FineTuneError("\(file.path): no tensor \(entry.name)") }
            let loaded: [Float]
            do {
                loaded = try file.tensor(named: name, shape: entry.shape)
            } catch {
                throw FineTuneError("\(file.path): \(error)")
            }
            for (k, value) in loaded.enumerated() { values[entry.offset + k] = T(value) }
        }
    }

    /// Draws a new head: PyTorch's default `Linear` initialisation, uniform in ±1/√inputs.
    public mutating func resetHead(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        for entry in layout.entries where entry.isHead {
            let inputs =
                entry.name.hasPrefix("head.hidden")
                ? layout.encoder.hiddenSize
                : (layout.head.hiddenSize > 0 ? layout.head.hiddenSize : layout.encoder.hiddenSize)
            let bound = 1 / Double(inputs).squareRoot()
            for i in entry.range { values[i] = T((generator.nextUnit() * 2 - 1) * bound) }
        }
    }

    /// The tensors by checkpoint name, in Float32, for a safetensors file.
    public func tensors() -> [String: SafetensorsTensor] {
        var result: [String: SafetensorsTensor] = [:]
        for entry in layout.entries {
            result[entry.name] = SafetensorsTensor(shape: entry.shape, values: values[entry.range].map { Float($0) })
        }
        return result
    }

    /// Mean squared error `scale · Σ (y − target)²` of the head's outputs on `batch`, adding its gradient to
    /// `gradient` (laid out as ``values``). With `dropout`, runs in training mode with those masks.
    ///
    /// - Parameter targets: `[count, outputCount]` row-major.
    public func lossAndGradient(
        batch: TokenBatch, targets: [T], scale: T, dropout: DropoutPlan?, gradient: UnsafeMutablePointer<T>
    ) -> T {
        lossAndGradient(batch: batch, dropout: dropout, gradient: gradient) { outputs, outputGradient in
            Self.squaredError(outputs: outputs, targets: targets, scale: scale, gradient: outputGradient)
        }
    }

    /// A loss of the head's outputs on `batch`, adding its gradient to `gradient` (laid out as ``values``).
    /// `loss` receives the outputs `[count, outputCount]` and a zeroed buffer of that shape, writes the loss's
    /// gradient with respect to the outputs there, and returns the loss.
    public func lossAndGradient(
        batch: TokenBatch, dropout: DropoutPlan?, gradient: UnsafeMutablePointer<T>,
        loss: (_ outputs: UnsafeBufferPointer<T>, _ outputGradient: UnsafeMutableBufferPointer<T>) -> T
    ) -> T {
        values.withUnsafeBufferPointer { w in
            let parameters = w.baseAddress!
            let pass = EncoderPass(parameters: parameters, layout: layout, batch: batch, dropout: dropout)
            let count = batch.count * layout.head.outputCount
            var dy = [T](repeating: 0, count: count)
            let value = dy.withUnsafeMutableBufferPointer {
                loss(UnsafeBufferPointer(start: pass.outputs.pointer, count: count), $0)
            }
            dy.withUnsafeBufferPointer {
                pass.backward(parameters: parameters, outputGradient: $0.baseAddress!, gradient: gradient)
            }
            return value
        }
    }

    /// `scale · Σ w · (y − target)²`, writing its gradient `2 · scale · w · (y − target)` to `gradient`. `weights`
    /// holds one weight per output of a row (`nil`: all 1).
    public static func squaredError(
        outputs: UnsafeBufferPointer<T>, targets: [T], scale: T, weights: [T]? = nil,
        gradient: UnsafeMutableBufferPointer<T>
    ) -> T {
        precondition(targets.count == outputs.count, "need \(outputs.count) targets, got \(targets.count)")
        var loss: T = 0
        guard let weights else {
            for i in 0..<targets.count {
                let error = outputs[i] - targets[i]
                loss += error * error
                gradient[i] = 2 * scale * error
            }
            return loss * scale
        }
        precondition(!weights.isEmpty && targets.count % weights.count == 0, "weights are not one per output")
        for i in 0..<targets.count {
            let error = outputs[i] - targets[i]
            let w = weights[i % weights.count]
            loss += w * error * error
            gradient[i] = 2 * scale * w * error
        }
        return loss * scale
    }

    /// The head's outputs `[count, outputCount]` for `batch`, without dropout.
    public func predict(_ batch: TokenBatch) -> [T] {
        values.withUnsafeBufferPointer { w in
            let pass = EncoderPass(parameters: w.baseAddress!, layout: layout, batch: batch, dropout: nil)
            return Array(UnsafeBufferPointer(start: pass.outputs.pointer, count: pass.outputs.count))
        }
    }

    /// Sentence embeddings `[count, hiddenSize]`: mean pooled over real tokens and L2-normalised, as the
    /// sentence-transformers model (the head is computed and ignored).
    public func embed(_ batch: TokenBatch) -> [T] {
        values.withUnsafeBufferPointer { w in
            let pass = EncoderPass(parameters: w.baseAddress!, layout: layout, batch: batch, dropout: nil)
            let h = layout.encoder.hiddenSize
            var result = [T](repeating: 0, count: batch.count * h)
            for b in 0..<batch.count {
                for i in 0..<h { result[b * h + i] = pass.pooled[b * h + i] / pass.pooledNorms[b] }
            }
            return result
        }
    }
}
