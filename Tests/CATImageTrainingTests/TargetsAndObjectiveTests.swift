import CATImageCore
import Foundation
import Testing

@testable import CATImageTraining

struct TargetsAndObjectiveTests {
    @Test("relative targets remove the prompt's mean and map back up to a per-prompt constant")
    func relativeTargets() {
        let quality: [[Double]] = [[1, 2, 6], [3, 3, 3], [0, 4, 2], [5, 1, 3]]
        let scaler = TargetScaling(kind: .relative, quality: quality)
        let targets = quality.map(scaler.target(fromQuality:))
        for j in 0..<3 {
            let column = targets.map { $0[j] }
            let mean = column.reduce(0, +) / 4
            let variance = column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 4
            #expect(abs(mean) < 1e-12 && abs(variance - 1) < 1e-9)
        }
        for (row, target) in zip(quality, targets) {
            let back = scaler.quality(fromTarget: target)
            let shift = back[0] - row[0]
            for j in 0..<3 { #expect(abs(back[j] - row[j] - shift) < 1e-9) }
        }
        let absolute = TargetScaling(kind: .absolute, quality: quality)
        for row in quality {
            let back = absolute.quality(fromTarget: absolute.target(fromQuality: row))
            for j in 0..<3 { #expect(abs(back[j] - row[j]) < 1e-9) }
        }
    }

    @Test("length buckets cover every prompt once and keep lengths close within a batch")
    func lengthBuckets() {
        var generator = SeededGenerator(seed: 1)
        let counts = (0..<1000).map { _ in 3 + generator.nextInt(below: 60) }
        var order = SeededGenerator(seed: 2)
        let batches = TransformerFineTuner.lengthBucketedBatches(tokenCounts: counts, batchSize: 32, generator: &order)
        #expect(batches.flatMap { $0 }.sorted() == Array(0..<1000))
        let spread = batches.map { batch in batch.map { counts[$0] }.max()! - batch.map { counts[$0] }.min()! }
        #expect(Double(spread.reduce(0, +)) / Double(spread.count) < 6)
    }

    @Test("AdamW warms up linearly, then decays linearly to zero")
    func schedule() {
        let layout = TrainingFixtures.tinyFloatModel().layout
        let optimizer = AdamW(layout: layout, settings: AdamW.Settings(warmupFraction: 0.1), totalSteps: 100)
        #expect(abs(optimizer.scheduleFactor(at: 0) - 0.1) < 1e-12)
        #expect(abs(optimizer.scheduleFactor(at: 9) - 1) < 1e-12)
        #expect(abs(optimizer.scheduleFactor(at: 55) - 0.5) < 1e-12)
        #expect(optimizer.scheduleFactor(at: 100) == 0)
    }

    @Test("the frozen kernel weighs training prompts by exp(cos/τ), one query or a batch")
    func kernelWeights() {
        // Two unit training vectors with targets 0 and 1; a query at cosines 0.8 and 0.6 with τ = 0.1 weighs them
        // e^8 and e^6: prediction e^6 / (e^8 + e^6).
        let kernel = FrozenKernel(features: [1, 0, 0, 1], dimension: 2, targets: [[0], [1]], tau: 0.1)
        let prediction = kernel.predict(features: [0.8, 0.6])
        let expected = 1 / (1 + Foundation.exp(2.0))
        #expect(abs(prediction[0][0] - expected) < 1e-6)
        // A batch (SGEMM) gives what one query at a time (SGEMV) gives.
        let batch = kernel.predict(features: [0.8, 0.6, 0.6, 0.8])
        #expect(abs(batch[0][0] - prediction[0][0]) < 1e-9)
        #expect(abs(batch[1][0] - (1 - expected)) < 1e-6)
    }
}
