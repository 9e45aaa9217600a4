import CATImageCore

/// A small multi-layer perceptron (ReLU hidden layers, linear multi-output head) on standardized targets.
///
/// Trained with AdamW on mini-batches of mean-squared error; a seeded shuffle holds out
/// `validationFraction` of the data for early stopping and the weights of the best validation epoch are kept.
/// Every random choice comes from ``SeededGenerator``, so the same seed gives the same network (for a fixed
/// BLAS thread count).
public struct MLPEstimator: QualityEstimator {
    public let options: MLPOptions
    /// Weights `[in, out]` of each layer, input first.
    public let layerWeights: [Matrix]
    /// Biases `[out]` of each layer.
    public let layerBiases: [[Float]]
    let scaling: TargetScaling

    public var spec: EstimatorSpec { .mlp(options) }
    public var outputCount: Int { layerWeights.last?.columns ?? 0 }

    init(options: MLPOptions, tensors: [String: EstimatorTensor]) throws {
        var weights: [Matrix] = []
        var biases: [[Float]] = []
        for layer in 0...options.hidden.count {
            guard let w = tensors["layer\(layer).weight"], let b = tensors["layer\(layer).bias"], w.shape.count == 2,
                w.shape[1] == b.values.count, weights.last.map({ $0.columns == w.shape[0] }) ?? true
            else { throw EstimatorError("MLP tensors for layer \(layer) are missing or disagree in shape") }
            weights.append(w.matrix)
            biases.append(b.values)
        }
        guard let outputs = weights.last?.columns, let scaling = TargetScaling(stored: tensors, outputs: outputs) else {
            throw EstimatorError("MLP target scaling tensors are missing or disagree in shape")
        }
        self.options = options
        self.layerWeights = weights
        self.layerBiases = biases
        self.scaling = scaling
    }

    public func tensors() -> [String: EstimatorTensor] {
        var result = scaling.tensors
        for (layer, weights) in layerWeights.enumerated() {
            result["layer\(layer).weight"] = EstimatorTensor(weights)
            result["layer\(layer).bias"] = EstimatorTensor(
                shape: [layerBiases[layer].count], values: layerBiases[layer])
        }
        return result
    }

    public func predict(_ input: EstimatorInput) -> [[Double]] {
        let features = input.features
        let output = Self.forward(features, weights: layerWeights, biases: layerBiases).last ?? features
        return (0..<output.rows).map { scaling.quality(fromTarget: output.row($0).map { Double($0) }) }
    }

    /// Activations of every layer: `[input, hidden..., output]`.
    static func forward(_ input: Matrix, weights: [Matrix], biases: [[Float]]) -> [Matrix] {
        var activations = [input]
        for layer in weights.indices {
            var z = activations[layer].multiplied(by: weights[layer])
            z.addToEachRow(biases[layer])
            if layer < weights.count - 1 {
                for i in z.storage.indices where z.storage[i] < 0 { z.storage[i] = 0 }
            }
            activations.append(z)
        }
        return activations
    }

    init(_ data: TrainingSet, options: MLPOptions, seed: UInt64) throws {
        guard (1...2).contains(options.hidden.count), options.hidden.allSatisfy({ $0 > 0 }) else {
            throw EstimatorError("MLP needs one or two hidden layers of positive width, got \(options.hidden)")
        }
        guard options.learningRate > 0, options.batchSize > 0, options.maxEpochs > 0 else {
            throw EstimatorError("MLP needs a positive learning rate, batch size and epoch count")
        }
        var random = SeededGenerator(seed: seed)
        let scaling = TargetScaling(quality: data.targets).roundedToFloat32()
        let targets = Matrix(rowVectors: scaling.targets(fromQualities: data.targets).map { $0.map { Float($0) } })
        var order = Array(0..<data.count)
        random.shuffle(&order)
        let validationCount =
            data.count >= 20 ? max(1, Int((Double(data.count) * options.validationFraction).rounded())) : 0
        let validation = Array(order.prefix(validationCount))
        var training = Array(order.dropFirst(validationCount))
        let widths = [data.features.columns] + options.hidden + [data.outputCount]
        var weights: [Matrix] = []
        var biases: [[Float]] = []
        for layer in 0..<(widths.count - 1) {
            let scale = (2 / Double(widths[layer])).squareRoot()
            var w = Matrix(rows: widths[layer], columns: widths[layer + 1])
            for i in w.storage.indices { w.storage[i] = Float(random.nextGaussian() * scale) }
            weights.append(w)
            biases.append([Float](repeating: 0, count: widths[layer + 1]))
        }
        var adam = AdamState(weights: weights, biases: biases)
        let validationX = data.features.rows(at: validation)
        let validationY = targets.rows(at: validation)
        var best = (loss: Double.infinity, weights: weights, biases: biases)
        var stale = 0
        for _ in 0..<options.maxEpochs {
            random.shuffle(&training)
            var start = 0
            while start < training.count {
                let batch = Array(training[start..<min(training.count, start + options.batchSize)])
                start += options.batchSize
                let gradients = Self.gradients(
                    data.features.rows(at: batch), targets.rows(at: batch), weights: weights, biases: biases)
                adam.step(
                    &weights, &biases, gradients: gradients, learningRate: options.learningRate,
                    weightDecay: options.weightDecay)
            }
            guard validationCount > 0 else { continue }
            let loss = Self.meanSquaredError(
                Self.forward(validationX, weights: weights, biases: biases).last ?? validationX, validationY)
            if loss < best.loss - 1e-6 {
                best = (loss, weights, biases)
                stale = 0
            } else {
                stale += 1
                if stale >= options.patience { break }
            }
        }
        if validationCount == 0 { best = (0, weights, biases) }
        self.options = options
        self.layerWeights = best.weights
        self.layerBiases = best.biases
        self.scaling = scaling
    }

    static func meanSquaredError(_ output: Matrix, _ targets: Matrix) -> Double {
        var sum = 0.0
        for i in output.storage.indices {
            let d = Double(output.storage[i] - targets.storage[i])
            sum += d * d
        }
        return sum / Double(max(1, output.storage.count))
    }

    /// Gradients of the batch's mean squared error with respect to every weight and bias.
    static func gradients(
        _ x: Matrix, _ y: Matrix, weights: [Matrix], biases: [[Float]]
    ) -> (weights: [Matrix], biases: [[Float]]) {
        let activations = forward(x, weights: weights, biases: biases)
        var delta = activations[activations.count - 1]
        let scale = 2 / Float(max(1, y.storage.count))
        for i in delta.storage.indices { delta.storage[i] = (delta.storage[i] - y.storage[i]) * scale }
        var weightGradients = [Matrix](repeating: Matrix(rows: 0, columns: 0), count: weights.count)
        var biasGradients = [[Float]](repeating: [], count: weights.count)
        for layer in stride(from: weights.count - 1, through: 0, by: -1) {
            weightGradients[layer] = activations[layer].multiplied(by: delta, transposeSelf: true)
            var bias = [Float](repeating: 0, count: delta.columns)
            for r in 0..<delta.rows { for c in 0..<delta.columns { bias[c] += delta.storage[r * delta.columns + c] } }
            biasGradients[layer] = bias
            if layer > 0 {
                var previous = delta.multiplied(by: weights[layer], transposeOther: true)
                let input = activations[layer]
                for i in previous.storage.indices where input.storage[i] <= 0 { previous.storage[i] = 0 }
                delta = previous
            }
        }
        return (weightGradients, biasGradients)
    }
}

/// First and second moment estimates of AdamW for every parameter.
private struct AdamState {
    var mWeights: [[Float]]
    var vWeights: [[Float]]
    var mBiases: [[Float]]
    var vBiases: [[Float]]
    var step = 0

    init(weights: [Matrix], biases: [[Float]]) {
        mWeights = weights.map { [Float](repeating: 0, count: $0.storage.count) }
        vWeights = mWeights
        mBiases = biases.map { [Float](repeating: 0, count: $0.count) }
        vBiases = mBiases
    }

    mutating func step(
        _ weights: inout [Matrix], _ biases: inout [[Float]], gradients: (weights: [Matrix], biases: [[Float]]),
        learningRate: Double, weightDecay: Double
    ) {
        step += 1
        let beta1: Float = 0.9
        let beta2: Float = 0.999
        let correction1 = 1 - Float(_pow(0.9, Double(step)))
        let correction2 = 1 - Float(_pow(0.999, Double(step)))
        let rate = Float(learningRate)
        let decay = Float(learningRate * weightDecay)
        func update(_ p: inout [Float], _ g: [Float], _ m: inout [Float], _ v: inout [Float], decayed: Bool) {
            for i in p.indices {
                m[i] = beta1 * m[i] + (1 - beta1) * g[i]
                v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
                let mHat = m[i] / correction1
                let vHat = v[i] / correction2
                p[i] -= rate * mHat / (vHat.squareRoot() + 1e-8) + (decayed ? decay * p[i] : 0)
            }
        }
        for layer in weights.indices {
            update(
                &weights[layer].storage, gradients.weights[layer].storage, &mWeights[layer], &vWeights[layer],
                decayed: true)
            update(&biases[layer], gradients.biases[layer], &mBiases[layer], &vBiases[layer], decayed: false)
        }
    }
}

@inline(__always) private func _pow(_ x: Double, _ y: Double) -> Double {
    #if canImport(Glibc)
        return Glibc.pow(x, y)
    #else
        return Darwin.pow(x, y)
    #endif
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
