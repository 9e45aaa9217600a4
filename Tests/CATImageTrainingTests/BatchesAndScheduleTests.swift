import CATImageCore
import Foundation
import Testing

@testable import CATImageTraining

struct BatchesAndScheduleTests {
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
}
