import CATImageCore

/// Optimizer steps on a model: each batch is split across workers (one BLAS thread each), their gradients are
/// summed in worker order, clipped to a global norm, and applied with AdamW. Deterministic for a seed: dropout
/// masks depend on (seed, step, prompt index) only, and sums run in a fixed order.
public final class TrainingSession {
    /// The model being trained.
    public private(set) var model: TrainableMiniLM<Float>
    /// The optimizer and its schedule.
    public private(set) var optimizer: AdamW
    /// Token ids of every training prompt.
    public let tokens: [[Int32]]
    /// Standardized targets `[N][M]` of every training prompt.
    public let targets: [[Double]]
    /// Seed of the dropout masks.
    public let seed: UInt64
    /// Worker threads.
    public let workers: Int
    /// Global gradient-norm limit (0: none).
    public let clipNorm: Double
    /// Whether dropout is applied (training mode).
    public let usesDropout: Bool
    /// The routing decision's loss over this session's prompts (rows in their order), added to the squared error;
    /// `nil` trains on the squared error alone. Its trade-offs may be recalibrated between steps.
    public var decision: DecisionLoss?
    /// Weight of each output in the squared error (`nil`: all 1), e.g. auxiliary outputs weighted apart from the
    /// primary ones; the decision term reads the first outputs, as many as it has generators.
    public let outputWeights: [Double]?
    private let slots: GradientSlots

    /// A session over `tokens` and standardized `targets` for `totalSteps` steps of the schedule.
    public init(
        model: TrainableMiniLM<Float>, tokens: [[Int32]], targets: [[Double]], settings: AdamW.Settings,
        totalSteps: Int, seed: UInt64, workers: Int, clipNorm: Double, usesDropout: Bool = true,
        decision: DecisionLoss? = nil, outputWeights: [Double]? = nil
    ) {
        precondition(tokens.count == targets.count, "tokens and targets disagree on prompts")
        precondition(
            outputWeights.map { $0.count == model.layout.head.outputCount } ?? true,
            "one weight per output: \(outputWeights?.count ?? 0) for \(model.layout.head.outputCount)")
        self.outputWeights = outputWeights
        precondition(decision.map { $0.quality.count == tokens.count } ?? true, "decision rows disagree on prompts")
        self.decision = decision
        self.model = model
        self.tokens = tokens
        self.targets = targets
        self.seed = seed
        self.workers = workers
        self.clipNorm = clipNorm
        self.usesDropout = usesDropout
        optimizer = AdamW(layout: model.layout, settings: settings, totalSteps: totalSteps)
        slots = GradientSlots(workers: workers, count: model.layout.count)
        BLAS.setThreadCount(1)
    }

    /// The figures of one step.
    public struct StepResult: Sendable {
        /// The batch's loss before the update: its mean squared error, plus the decision term when there is one.
        public var loss: Double
        /// Global gradient norm before clipping.
        public var gradientNorm: Double
        /// Wall-clock seconds of the forward and backward passes (all workers).
        public var gradientSeconds: Double
        /// Wall-clock seconds of the gradient sum, clipping and AdamW update.
        public var updateSeconds: Double
    }

    /// Gradient of the batch's loss (mean squared error, plus the decision term), summed over workers, in
    /// ``GradientSlots`` slot 0.
    func accumulateGradient(_ indices: [Int], step: Int) -> Double {
        let m = model.layout.head.outputCount
        let tokens = self.tokens
        let paddedLength = indices.map { tokens[$0].count }.max() ?? 1
        // Contiguous parts of near-equal token counts, in order.
        let partCount = min(workers, indices.count)
        let parts = (0..<partCount).map { w in
            Array(indices[(w * indices.count / partCount)..<((w + 1) * indices.count / partCount)])
        }
        let scale = Float(1) / Float(indices.count * m)
        let model = self.model
        let targets = self.targets
        let slots = self.slots
        let plan = usesDropout ? seed : nil
        let decision = self.decision
        let primary = decision?.quality.first?.count ?? m
        let weights = outputWeights.map { $0.map { Float($0) } }
        let losses = Parallel.map(partCount, workers: partCount) { w -> Double in
            let part = parts[w]
            let batch = TokenBatch(part.map { tokens[$0] }, paddedLength: paddedLength)
            let flatTargets = part.flatMap { targets[$0].map { Float($0) } }
            let gradient = slots.pointer(w)
            gradient.update(repeating: 0, count: slots.count)
            let dropout = plan.map { DropoutPlan(seed: $0, step: step, promptIndices: part) }
            var decisionLoss = 0.0
            let squared = model.lossAndGradient(batch: batch, dropout: dropout, gradient: gradient) { y, dy in
                let value = TrainableMiniLM<Float>.squaredError(
                    outputs: y, targets: flatTargets, scale: scale, weights: weights, gradient: dy)
                if let decision {
                    for (r, index) in part.enumerated() {
                        decisionLoss += decision.add(
                            row: index, outputs: UnsafeBufferPointer(rebasing: y[(r * m)..<(r * m + primary)]),
                            scale: 1 / Double(indices.count),
                            gradient: UnsafeMutableBufferPointer(rebasing: dy[(r * m)..<(r * m + primary)]))
                    }
                }
                return value
            }
            return Double(squared) + decisionLoss
        }
        slots.sumIntoFirst(parts: partCount)
        return losses.reduce(0, +)
    }

    /// One optimizer step on the prompts at `indices`.
    @discardableResult
    public func step(_ indices: [Int]) -> StepResult {
        precondition(!indices.isEmpty, "a step needs at least one prompt")
        let start = ContinuousClock.now
        let loss = accumulateGradient(indices, step: optimizer.step)
        let middle = ContinuousClock.now
        let gradient = slots.pointer(0)
        var squares = 0.0
        for i in 0..<slots.count { squares += Double(gradient[i]) * Double(gradient[i]) }
        let norm = squares.squareRoot()
        let factor = clipNorm > 0 && norm > clipNorm ? Float(clipNorm / (norm + 1e-6)) : 1
        optimizer.update(&model.values, gradient: gradient, gradientScale: factor)
        let end = ContinuousClock.now
        return StepResult(
            loss: loss, gradientNorm: norm, gradientSeconds: (middle - start) / .seconds(1),
            updateSeconds: (end - middle) / .seconds(1))
    }

    /// Replaces the model's values (restoring the best weights seen).
    public func setValues(_ values: [Float]) {
        precondition(values.count == model.values.count, "value count differs")
        model.values = values
    }
}

/// One gradient buffer per worker. Worker `w` writes only slot `w` inside `Parallel.map`, and slots are read
/// only after every worker returned, so the buffers are never accessed concurrently.
final class GradientSlots: @unchecked Sendable {
    let count: Int
    private let buffers: [UnsafeMutablePointer<Float>]

    init(workers: Int, count: Int) {
        self.count = count
        buffers = (0..<workers).map { _ in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
            p.initialize(repeating: 0, count: count)
            return p
        }
    }

    deinit { for p in buffers { p.deallocate() } }

    func pointer(_ w: Int) -> UnsafeMutablePointer<Float> { buffers[w] }

    /// Slot 0 += slots 1..<parts, in worker order.
    func sumIntoFirst(parts: Int) {
        guard parts > 1 else { return }
        for w in 1..<parts { BLAS.saxpy(n: count, alpha: 1, x: buffers[w], y: buffers[0]) }
    }

    /// A copy of slot 0.
    func firstArray() -> [Float] { Array(UnsafeBufferPointer(start: buffers[0], count: count)) }
}
