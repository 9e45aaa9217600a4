/// AdamW (Loshchilov & Hutter) with one learning rate for the encoder and another for the head, a linear warm-up
/// then linear decay to zero, and decoupled weight decay on matrices only, as PyTorch's `AdamW` with
/// `get_linear_schedule_with_warmup` does.
public struct AdamW: Sendable {
    /// Optimizer settings.
    public struct Settings: Sendable, Equatable, Codable {
        /// Peak learning rate of the encoder.
        public var encoderLearningRate: Double
        /// Peak learning rate of the head.
        public var headLearningRate: Double
        /// Decoupled weight decay (on matrices).
        public var weightDecay: Double
        /// First- and second-moment decay rates.
        public var beta1: Double
        public var beta2: Double
        /// Added to the root of the second moment.
        public var epsilon: Double
        /// Fraction of all steps spent warming up linearly from zero.
        public var warmupFraction: Double

        /// Settings; defaults are the reference run's (encoder 3e-5, head 1e-3, decay 0.01, warm-up 10%).
        public init(
            encoderLearningRate: Double = 3e-5, headLearningRate: Double = 1e-3, weightDecay: Double = 0.01,
            beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, warmupFraction: Double = 0.1
        ) {
            self.encoderLearningRate = encoderLearningRate
            self.headLearningRate = headLearningRate
            self.weightDecay = weightDecay
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
            self.warmupFraction = warmupFraction
        }
    }

    /// The settings.
    public let settings: Settings
    /// Steps of the whole schedule.
    public let totalSteps: Int
    /// Steps taken so far.
    public private(set) var step = 0
    private var firstMoment: [Float]
    private var secondMoment: [Float]
    private let layout: ParameterLayout

    /// An optimizer for a model of `layout` over `totalSteps` steps.
    public init(layout: ParameterLayout, settings: Settings, totalSteps: Int) {
        precondition(totalSteps > 0, "the schedule needs at least one step")
        self.layout = layout
        self.settings = settings
        self.totalSteps = totalSteps
        firstMoment = [Float](repeating: 0, count: layout.count)
        secondMoment = [Float](repeating: 0, count: layout.count)
    }

    /// The schedule's multiplier of the peak learning rate at `step` (0-based): linear warm-up, linear decay.
    public func scheduleFactor(at step: Int) -> Double {
        let warmup = Int((Double(totalSteps) * settings.warmupFraction).rounded())
        if step < warmup { return Double(step + 1) / Double(warmup) }
        return max(0, Double(totalSteps - step) / Double(max(1, totalSteps - warmup)))
    }

    /// One update of `parameters` with `gradientScale × gradient` (the scale applies clipping).
    public mutating func update(_ parameters: inout [Float], gradient: [Float], gradientScale: Float = 1) {
        precondition(gradient.count == layout.count, "gradient size disagrees")
        gradient.withUnsafeBufferPointer {
            update(&parameters, gradient: $0.baseAddress!, gradientScale: gradientScale)
        }
    }

    /// One update of `parameters` with `gradientScale × gradient` (`layout.count` values).
    public mutating func update(_ parameters: inout [Float], gradient g: UnsafePointer<Float>, gradientScale: Float = 1)
    {
        precondition(parameters.count == layout.count, "parameter size disagrees")
        let factor = scheduleFactor(at: step)
        step += 1
        let b1 = Float(settings.beta1)
        let b2 = Float(settings.beta2)
        let correction1 = Float(1 - pow(settings.beta1, Double(step)))
        let correction2 = Float(1 - pow(settings.beta2, Double(step)))
        let epsilon = Float(settings.epsilon)
        parameters.withUnsafeMutableBufferPointer { p in
            do {
                firstMoment.withUnsafeMutableBufferPointer { m in
                    secondMoment.withUnsafeMutableBufferPointer { v in
                        for entry in layout.entries {
                            let rate = Float(
                                (entry.isHead ? settings.headLearningRate : settings.encoderLearningRate) * factor)
                            let decay = entry.decays ? 1 - rate * Float(settings.weightDecay) : 1
                            let stepSize = rate / correction1
                            let inverseCorrection2 = 1 / correction2
                            for i in entry.range {
                                let gi = g[i] * gradientScale
                                m[i] = b1 * m[i] + (1 - b1) * gi
                                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                                p[i] =
                                    p[i] * decay - stepSize * m[i]
                                    / ((v[i] * inverseCorrection2).squareRoot() + epsilon)
                            }
                        }
                    }
                }
            }
        }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
