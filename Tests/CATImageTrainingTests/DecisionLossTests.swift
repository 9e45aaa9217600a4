import CATImageCore
import CATImageEncoder
import Testing

@testable import CATImageTraining

/// The routing decision as a training loss (``DecisionLoss``): its gradient, its trade-offs, and its place in a
/// training step.
struct DecisionLossTests {
    /// A loss over `rows` random prompts of 4 generators with distinct costs, scales and shifts.
    static func randomLoss(rows: Int, seed: UInt64, options: DecisionOptions = DecisionOptions()) throws
        -> DecisionLoss
    {
        var generator = SeededGenerator(seed: seed)
        let quality = (0..<rows).map { _ in (0..<4).map { _ in 0.3 + 0.05 * generator.nextGaussian() } }
        let ruleCosts = [0.5, 1.0, 2.0, 4.0]
        let cost = (0..<rows).map { _ in ruleCosts.map { $0 * (1 + 0.1 * generator.nextGaussian()) } }
        return try DecisionLoss(
            options: options, quality: quality, cost: cost, ruleCosts: ruleCosts,
            scaling: TargetScaling(means: [-0.01, 0, 0.005, 0.01], scales: [0.02, 0.03, 0.025, 0.04]))
    }

    @Test("the decision term's gradient with respect to the head's outputs matches central differences")
    func gradientMatchesFiniteDifferences() throws {
        var loss = try Self.randomLoss(rows: 6, seed: 1, options: DecisionOptions(weight: 0.7, temperature: 0.2))
        var generator = SeededGenerator(seed: 2)
        let z = (0..<6).map { _ in (0..<4).map { _ in generator.nextGaussian() } }
        loss.calibrate(predictedTargets: z)
        #expect(loss.lambdas.count == 16 && loss.lambdas.contains { $0 > 0 })
        func value(_ row: Int, _ outputs: [Double]) -> (loss: Double, gradient: [Double]) {
            var gradient = [Double](repeating: 0, count: 4)
            let value = outputs.withUnsafeBufferPointer { y in
                gradient.withUnsafeMutableBufferPointer { loss.add(row: row, outputs: y, scale: 0.5, gradient: $0) }
            }
            return (value, gradient)
        }
        let step = 1e-6
        for row in 0..<6 {
            let analytic = value(row, z[row]).gradient
            #expect(analytic.contains { abs($0) > 1e-4 }, "row \(row): a vanishing gradient checks nothing")
            for j in 0..<4 {
                var up = z[row]
                up[j] += step
                var down = z[row]
                down[j] -= step
                let numeric = (value(row, up).loss - value(row, down).loss) / (2 * step)
                #expect(
                    abs(analytic[j] - numeric) <= 1e-6 * max(abs(analytic[j]), abs(numeric)) + 1e-9,
                    "row \(row) output \(j): analytic \(analytic[j]), numeric \(numeric)")
            }
        }
    }

    @Test("calibrated trade-offs are the smallest λ whose hard choices cost at most evenly spread mean costs")
    func tradeOffsSpreadTheMeanCost() throws {
        var loss = try Self.randomLoss(rows: 200, seed: 3)
        var generator = SeededGenerator(seed: 4)
        let z = (0..<200).map { _ in (0..<4).map { _ in generator.nextGaussian() } }
        loss.calibrate(predictedTargets: z)
        func meanCost(_ lambda: Double) -> Double {
            z.map { row in
                let predicted = loss.scaling.quality(fromTarget: row)
                let q = row.indices.map { predicted[$0] - lambda * loss.ruleCosts[$0] }
                return loss.ruleCosts[q.indices.max { q[$0] < q[$1] }!]
            }.reduce(0, +) / 200
        }
        #expect(loss.lambdas == loss.lambdas.sorted(by: >) && loss.lambdas.count == 16, "dearer targets, smaller λ")
        for (k, lambda) in loss.lambdas.enumerated() {
            let target = 0.5 + 3.5 * Double(k + 1) / 17
            #expect(meanCost(lambda) <= target + 1e-12, "λ \(lambda) costs \(meanCost(lambda)) > \(target)")
            #expect(meanCost(lambda * 0.99 - 1e-9) > target || lambda < 1e-9, "λ \(lambda) is not the smallest")
        }
        var free = try DecisionLoss(
            options: DecisionOptions(), quality: loss.quality, cost: loss.quality.map { _ in [0, 0, 0, 0] },
            ruleCosts: [0, 0, 0, 0], scaling: loss.scaling)
        free.calibrate(predictedTargets: z)
        #expect(free.lambdas == [0])
    }

    @Test("a loss whose prompts do not differ between generators, or with mismatched rows, is refused")
    func degenerateDataIsRefused() {
        #expect(throws: FineTuneError.self) {
            try DecisionLoss(
                options: DecisionOptions(), quality: [[0.3, 0.3], [0.2, 0.2]], cost: [[1, 2], [1, 2]],
                ruleCosts: [1, 2], scaling: TargetScaling(means: [0, 0], scales: [1, 1]))
        }
        #expect(throws: FineTuneError.self) {
            try DecisionLoss(
                options: DecisionOptions(), quality: [[0.3, 0.1]], cost: [[1, 2], [1, 2]], ruleCosts: [1, 2],
                scaling: TargetScaling(means: [0, 0], scales: [1, 1]))
        }
        #expect(throws: FineTuneError.self) {
            try DecisionLoss(
                options: DecisionOptions(temperature: 0), quality: [[0.3, 0.1]], cost: [[1, 2]], ruleCosts: [1, 2],
                scaling: TargetScaling(means: [0, 0], scales: [1, 1]))
        }
    }

    @Test("the whole model's gradient of squared error plus the decision term matches central differences")
    func modelGradientWithDecisionTerm() throws {
        var loss = try Self.randomLoss(rows: 3, seed: 5, options: DecisionOptions(weight: 2, temperature: 0.1))
        let encoder = GradientCheckTests.tinyModel(.init(headHidden: 0, normalizes: false, dropout: false)).layout
            .encoder
        var generator = SeededGenerator(seed: 6)
        loss.calibrate(predictedTargets: (0..<3).map { _ in (0..<4).map { _ in generator.nextGaussian() } })
        var probe = TrainableMiniLM<Double>(
            layout: ParameterLayout(encoder: encoder, head: RegressionHeadConfig(outputCount: 4)), seed: 7)
        for i in probe.values.indices { probe.values[i] += generator.nextGaussian() * 0.3 }
        let batch = TokenBatch([[1, 5, 9, 3, 2], [1, 17, 2], [1, 4, 4, 19, 8, 11, 2]])
        let targets = (0..<12).map { _ in generator.nextGaussian() }
        func run(_ model: TrainableMiniLM<Double>, into gradient: inout [Double]) -> Double {
            gradient.withUnsafeMutableBufferPointer { g in
                model.lossAndGradient(batch: batch, dropout: nil, gradient: g.baseAddress!) { y, dy in
                    var total = TrainableMiniLM<Double>.squaredError(
                        outputs: y, targets: targets, scale: 1.0 / 12, gradient: dy)
                    for r in 0..<3 {
                        total += loss.add(
                            row: r, outputs: UnsafeBufferPointer(rebasing: y[(r * 4)..<(r * 4 + 4)]), scale: 1.0 / 3,
                            gradient: UnsafeMutableBufferPointer(rebasing: dy[(r * 4)..<(r * 4 + 4)]))
                    }
                    return total
                }
            }
        }
        var analytic = [Double](repeating: 0, count: probe.layout.count)
        _ = run(probe, into: &analytic)
        var scratch = analytic
        let step = 1e-5
        var checked = 0
        for entry in probe.layout.entries {
            // Every head parameter and a stride through each encoder tensor.
            for i in stride(from: entry.offset, to: entry.offset + entry.count, by: entry.isHead ? 1 : 7) {
                let original = probe.values[i]
                probe.values[i] = original + step
                let up = run(probe, into: &scratch)
                probe.values[i] = original - step
                let down = run(probe, into: &scratch)
                probe.values[i] = original
                let numeric = (up - down) / (2 * step)
                #expect(
                    abs(analytic[i] - numeric) <= 1e-5 * max(abs(analytic[i]), abs(numeric)) + 1e-8,
                    "\(entry.name)[\(i - entry.offset)]: analytic \(analytic[i]), numeric \(numeric)")
                checked += 1
            }
        }
        #expect(checked > 100)
    }

    @Test("a training step with the decision term moves the weights elsewhere than squared error alone, repeatably")
    func sessionStepUsesTheDecisionTerm() throws {
        let model = TrainingFixtures.tinyFloatModel(outputs: 4)
        var generator = SeededGenerator(seed: 9)
        let tokens: [[Int32]] = (0..<12).map { i in
            [1] + (0..<(3 + i % 5)).map { _ in Int32(2 + generator.nextInt(below: 38)) } + [2]
        }
        let targets = (0..<12).map { _ in (0..<4).map { _ in generator.nextGaussian() } }
        var decision = try Self.randomLoss(rows: 12, seed: 10, options: DecisionOptions(weight: 5))
        decision.calibrate(predictedTargets: targets)
        func train(_ decision: DecisionLoss?) -> (values: [Float], losses: [Double]) {
            let session = TrainingSession(
                model: model, tokens: tokens, targets: targets, settings: AdamW.Settings(encoderLearningRate: 1e-3),
                totalSteps: 3, seed: 0, workers: 2, clipNorm: 1, decision: decision)
            let losses = (0..<3).map { _ in session.step(Array(0..<12)).loss }
            return (session.model.values, losses)
        }
        let plain = train(nil)
        let withDecision = train(decision)
        #expect(withDecision.values != plain.values)
        #expect(withDecision.losses.allSatisfy(\.isFinite) && withDecision.losses != plain.losses)
        #expect(train(decision).values == withDecision.values)
    }

    @Test("fit refuses a decision option without the prompts' qualities and costs, and rows that miss prompts")
    func fitRefusesMismatchedDecision() throws {
        let model = TrainingFixtures.tinyFloatModel(outputs: 4)
        let examples = (0..<8).map { i in FineTuneExample(tokens: [1, Int32(3 + i), 2], target: [0, 1, 0, -1]) }
        var options = FineTuneOptions(epochs: 1, batchSize: 4, maxTokens: 8, maxSteps: 1)
        options.decision = DecisionOptions()
        let objective: TransformerFineTuner.Objective = { _, _ in 0 }
        #expect(throws: FineTuneError.self) {
            try TransformerFineTuner.fit(pretrained: model, examples: examples, options: options, objective: objective)
        }
        let short = try Self.randomLoss(rows: 5, seed: 1)
        #expect(throws: FineTuneError.self) {
            try TransformerFineTuner.fit(
                pretrained: model, examples: examples, options: options, objective: objective, decision: short)
        }
        options.decision = nil
        let full = try Self.randomLoss(rows: 8, seed: 1)
        #expect(throws: FineTuneError.self) {
            try TransformerFineTuner.fit(
                pretrained: model, examples: examples, options: options, objective: objective, decision: full)
        }
    }
}
