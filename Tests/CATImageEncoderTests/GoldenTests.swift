import Foundation
import Synchronization
import Testing

@testable import CATImageEncoder

@Suite("MiniLM against sentence-transformers golden vectors")
struct GoldenTests {
    static let tolerance: Float = 1e-5

    @Test("the 64 golden prompts are all present", arguments: [64])
    func goldenFileIsComplete(count: Int) throws {
        #expect(try Fixtures.golden.get().count == count)
    }

    @Test("token ids equal the reference tokenizer's for every golden prompt", arguments: 0..<64)
    func tokenIDs(index: Int) throws {
        let encoder = try Fixtures.encoder.get()
        let example = try Fixtures.golden.get()[index]
        #expect(
            encoder.tokenize(example.prompt) == example.inputIDs, "prompt \(index): \(example.prompt.debugDescription)")
    }

    @Test("each golden prompt encoded alone is within 1e-5 of the reference embedding", arguments: 0..<64)
    func embeddingOneAtATime(index: Int) throws {
        let encoder = try Fixtures.encoder.get()
        let example = try Fixtures.golden.get()[index]
        let vector = encoder.encode(example.prompt)
        #expect(vector.count == 384)
        let difference = maxAbsoluteDifference(vector, example.embedding)
        #expect(difference <= Self.tolerance, "prompt \(index): largest difference \(difference)")
    }

    @Test("batched encoding of all golden prompts is within 1e-5 and in input order", arguments: [1, 5, 32, 64])
    func embeddingsInBatches(batchSize: Int) throws {
        let encoder = try Fixtures.encoder.get()
        let golden = try Fixtures.golden.get()
        // Mixed lengths in every batch: reverse order so sorting by length really reorders.
        let reversed = Array(golden.reversed())
        let progressCalls = ProgressRecorder()
        let matrix = encoder.encode(reversed.map(\.prompt), batchSize: batchSize) { done, total in
            progressCalls.record(done, total)
        }
        #expect(matrix.rows == golden.count && matrix.columns == 384)
        for (row, example) in reversed.enumerated() {
            let difference = maxAbsoluteDifference(matrix.row(row), example.embedding)
            #expect(difference <= Self.tolerance, "row \(row) (\(example.prompt.prefix(40))): \(difference)")
        }
        #expect(progressCalls.last == golden.count)
    }

    @Test("a batch of mixed lengths equals one at a time (padding has no effect), products split or not")
    func batchEqualsSingle() throws {
        let encoder = try Fixtures.encoder.get()
        let texts = ["a", "a red car parked in the rain next to a small yellow house at night", "", "space"]
        // One batch of 4 (fewer batches than cores: products split) and 4 batches of 1 (not split on ≤ 4 cores).
        let batch = encoder.encode(texts, batchSize: 4)
        let unsplit = encoder.encode(texts, batchSize: 1)
        for (row, text) in texts.enumerated() {
            #expect(maxAbsoluteDifference(batch.row(row), encoder.encode(text)) <= 1e-6)
            #expect(maxAbsoluteDifference(batch.row(row), unsplit.row(row)) <= 1e-6)
        }
    }

    @Test("the folder's configuration is read: 384 dimensions, 256 tokens, identifier and weights digest")
    func configuration() throws {
        let encoder = try Fixtures.encoder.get()
        #expect(encoder.dimension == 384)
        #expect(encoder.maxSequenceLength == 256)
        #expect(encoder.configuration.layerCount == 6 && encoder.configuration.headCount == 12)
        #expect(encoder.modelIdentifier == "all-MiniLM-L6-v2")
        #expect(encoder.weightsDigest == ModelStore.expectedWeightsDigest)
        #expect(encoder.encode([String]()).rows == 0)
    }
}

/// Records the last progress report (progress is called from worker threads).
final class ProgressRecorder: Sendable {
    private let state = Mutex<(done: Int, calls: Int)>((0, 0))

    func record(_ done: Int, _ total: Int) {
        state.withLock { $0 = (max($0.done, done), $0.calls + 1) }
    }

    var last: Int { state.withLock { $0.done } }
}
