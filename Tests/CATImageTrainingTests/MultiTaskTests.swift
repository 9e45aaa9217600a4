import CATImageCore
import Synchronization
import Testing

@testable import CATImageTraining

/// Multi-task fine-tuning: auxiliary targets (other metrics of the same prompts) learnt by extra head outputs that
/// the fitted model drops.
struct MultiTaskTests {
    /// 16 prompts of the tiny model's vocabulary with 4 targets and 4 auxiliary targets each.
    static func examples(auxiliary: Bool) -> [FineTuneExample] {
        var generator = SeededGenerator(seed: 21)
        return (0..<16).map { i in
            let tokens = [1] + (0..<(3 + i % 5)).map { _ in Int32(2 + generator.nextInt(below: 38)) } + [2]
            let target = (0..<4).map { _ in generator.nextGaussian() }
            let extra = (0..<4).map { _ in generator.nextGaussian() }
            return FineTuneExample(tokens: tokens, target: target, auxiliary: auxiliary ? extra : [])
        }
    }

    /// A fit of the tiny model whose every validation measurement is the best so far, so it keeps the last weights.
    static func fit(_ examples: [FineTuneExample], auxiliaryWeight: Double?) throws -> FineTunedModel {
        let measurements = Mutex(0)
        let options = FineTuneOptions(
            epochs: 1, batchSize: 4, maxTokens: 16, optimizer: AdamW.Settings(encoderLearningRate: 1e-3),
            validationFraction: 0.25, evaluationsPerEpoch: 1, maxSteps: 3, auxiliaryWeight: auxiliaryWeight)
        return try TransformerFineTuner.fit(
            pretrained: TrainingFixtures.tinyFloatModel(outputs: 4), examples: examples, options: options,
            objective: { _, _ in
                Double(
                    measurements.withLock {
                        $0 += 1; return $0
                    })
            })
    }

    @Test("the weighted squared error scales each output's term and gradient by its weight; no weights is weight 1")
    func weightedSquaredError() {
        let outputs: [Double] = [0.5, -1, 2, 0.25]
        let targets: [Double] = [0, 1, 1, -0.75]
        var plain = [Double](repeating: 0, count: 4)
        var weighted = plain
        let unweighted = outputs.withUnsafeBufferPointer { y in
            plain.withUnsafeMutableBufferPointer {
                TrainableMiniLM<Double>.squaredError(outputs: y, targets: targets, scale: 0.5, gradient: $0)
            }
        }
        let withWeights = outputs.withUnsafeBufferPointer { y in
            weighted.withUnsafeMutableBufferPointer {
                TrainableMiniLM<Double>.squaredError(
                    outputs: y, targets: targets, scale: 0.5, weights: [1, 3], gradient: $0)
            }
        }
        // Rows of two outputs: the second output of each row counts three times.
        let squares: [Double] = [0.25, 4, 1, 1]
        #expect(unweighted == 0.5 * squares.reduce(0, +))
        let weightedSquares: [Double] = [0.25, 3 * 4, 1, 3 * 1]
        #expect(withWeights == 0.5 * weightedSquares.reduce(0, +))
        #expect(weighted == [plain[0], 3 * plain[1], plain[2], 3 * plain[3]])
        #expect(plain == [0.5, -2, 1, 1])
    }

    @Test("a model keeping its first outputs predicts what the full model predicts for them")
    func keepingOutputs() {
        var generator = SeededGenerator(seed: 3)
        var model = TrainingFixtures.tinyFloatModel(outputs: 6)
        for i in model.values.indices { model.values[i] += Float(0.1 * generator.nextGaussian()) }
        let full = FineTunedModel(model: model, maxTokens: 16)
        let kept = full.keepingOutputs(4)
        #expect(kept.outputCount == 4 && full.keepingOutputs(6).model.values == model.values)
        let tokens: [[Int32]] = [[1, 5, 9, 3, 2], [1, 17, 2], [1, 4, 4, 19, 8, 11, 2]]
        let a = full.predictTargets(tokens, workers: 1)
        let b = kept.predictTargets(tokens, workers: 1)
        for (row, prefix) in zip(a, b) {
            #expect(prefix.count == 4)
            for j in 0..<4 { #expect(abs(row[j] - prefix[j]) < 1e-6) }
        }
        #expect(kept.model.layout.count == model.layout.count - 2 * (model.layout.encoder.hiddenSize + 1))
    }

    @Test("a fit with auxiliary targets returns the primary outputs only, trained otherwise than without, repeatably")
    func auxiliaryTargetsMoveTheWeights() throws {
        let plain = try Self.fit(Self.examples(auxiliary: false), auxiliaryWeight: nil)
        let multiTask = try Self.fit(Self.examples(auxiliary: true), auxiliaryWeight: 1)
        #expect(multiTask.outputCount == 4 && multiTask.model.values.count == plain.model.values.count)
        // The encoder learnt the auxiliary targets too.
        let encoderCount = multiTask.model.layout.entries.filter { !$0.isHead }.map(\.count).reduce(0, +)
        #expect(Array(multiTask.model.values.prefix(encoderCount)) != Array(plain.model.values.prefix(encoderCount)))
        let again = try Self.fit(Self.examples(auxiliary: true), auxiliaryWeight: 1)
        #expect(again.model.values == multiTask.model.values)
        let lighter = try Self.fit(Self.examples(auxiliary: true), auxiliaryWeight: 0.1)
        #expect(lighter.model.values != multiTask.model.values)
    }

    @Test("fit refuses auxiliary targets without a weight, a weight without them, ragged ones and a weight ≤ 0")
    func refusals() throws {
        let withAuxiliary = Self.examples(auxiliary: true)
        #expect(throws: FineTuneError.self) { try Self.fit(withAuxiliary, auxiliaryWeight: nil) }
        #expect(throws: FineTuneError.self) { try Self.fit(Self.examples(auxiliary: false), auxiliaryWeight: 1) }
        var ragged = withAuxiliary
        ragged[5].auxiliary.removeLast()
        #expect(throws: FineTuneError.self) { try Self.fit(ragged, auxiliaryWeight: 1) }
        #expect(throws: FineTuneError.self) { try Self.fit(withAuxiliary, auxiliaryWeight: 0) }
        #expect(throws: FineTuneError.self) { try Self.fit(withAuxiliary, auxiliaryWeight: -.infinity) }
    }
}
