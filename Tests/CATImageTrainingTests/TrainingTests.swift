import CATImageCore
import CATImageEncoder
import Foundation
import Synchronization
import Testing

@testable import CATImageTraining

struct TrainingTests {
    /// Mean squared error of `model` on `examples`' standardized targets (no dropout).
    static func meanSquaredError(_ model: TrainableMiniLM<Float>, _ examples: [FineTuneExample]) -> Double {
        let fitted = FineTunedModel(model: model, maxTokens: 32)
        let z = fitted.predictTargets(examples.map(\.tokens), workers: 2)
        var total = 0.0
        for (row, example) in zip(z, examples) {
            let target = example.target
            for j in row.indices { total += (row[j] - target[j]) * (row[j] - target[j]) }
        }
        return total / Double(examples.count * 4)
    }

    @Test("training loss falls on 64 real CEMS prompts and the encoder itself moves")
    func lossFallsOnRealSlice() throws {
        let pretrained = try TrainingFixtures.pretrained.get()
        let examples = try TrainingFixtures.cemsSlice.get()
        #expect(examples.count == 64 && examples.allSatisfy { $0.tokens.count <= 32 })
        let session = TrainingSession(
            model: pretrained, tokens: examples.map(\.tokens), targets: examples.map(\.target),
            settings: AdamW.Settings(encoderLearningRate: 1e-4, headLearningRate: 3e-3, warmupFraction: 0),
            totalSteps: 12, seed: 0, workers: 2, clipNorm: 1)
        let before = Self.meanSquaredError(session.model, examples)
        var generator = SeededGenerator(seed: 0)
        var losses: [Double] = []
        for _ in 0..<3 {
            for batch in TransformerFineTuner.lengthBucketedBatches(
                tokenCounts: examples.map(\.tokens.count), batchSize: 16, generator: &generator)
            {
                losses.append(session.step(batch).loss)
            }
        }
        let after = Self.meanSquaredError(session.model, examples)
        #expect(losses.allSatisfy { $0.isFinite })
        #expect(after < 0.8 * before, "MSE \(before) → \(after) (step losses \(losses))")
        let word = pretrained.layout["encoder.layer.3.attention.self.query.weight"].range
        let moved = zip(session.model.values[word], pretrained.values[word]).reduce(0) { max($0, abs($1.0 - $1.1)) }
        #expect(moved > 1e-5, "encoder weights did not change")
    }

    @Test("the same seed gives bit-identical weights; another seed does not")
    func sameSeedSameWeights() {
        let model = TrainingFixtures.tinyFloatModel()
        var generator = SeededGenerator(seed: 9)
        let tokens: [[Int32]] = (0..<12).map { i in
            [1] + (0..<(3 + i % 5)).map { _ in Int32(2 + generator.nextInt(below: 38)) } + [2]
        }
        let targets = (0..<12).map { _ in (0..<3).map { _ in generator.nextGaussian() } }
        func train(seed: UInt64) -> [Float] {
            let session = TrainingSession(
                model: model, tokens: tokens, targets: targets, settings: AdamW.Settings(encoderLearningRate: 1e-3),
                totalSteps: 4, seed: seed, workers: 2, clipNorm: 1)
            var order = SeededGenerator(seed: seed)
            for batch in TransformerFineTuner.lengthBucketedBatches(
                tokenCounts: tokens.map(\.count), batchSize: 4, generator: &order)
            {
                session.step(batch)
            }
            return session.model.values
        }
        let first = train(seed: 3)
        let second = train(seed: 3)
        let other = train(seed: 4)
        #expect(first == second)
        #expect(first != other)
        #expect(first != model.values)
    }

    @Test("the Float32 inference pass reproduces the sentence encoder's embeddings")
    func inferenceMatchesSentenceEncoder() throws {
        let pretrained = try TrainingFixtures.pretrained.get()
        let encoder = try SentenceEncoder(directory: TrainingFixtures.modelDirectory)
        let prompts = ["a white and empty wall", "A colorful park with a crowd of people, oil painting, 4k", "cat"]
        let tokens = prompts.map { encoder.tokenize($0) }
        let ours = FineTunedModel.embed(pretrained, tokens, workers: 2)
        for (i, prompt) in prompts.enumerated() {
            let reference = encoder.encode(prompt)
            let difference = (0..<384).reduce(Float(0)) { max($0, abs(ours[i * 384 + $1] - reference[$1])) }
            #expect(difference < 1e-5, "\(prompt): max difference \(difference)")
        }
    }

    @Test("fit keeps the best validation weights on the objective it is given and survives a safetensors round trip")
    func fitAndRoundTrip() throws {
        let pretrained = try TrainingFixtures.pretrained.get()
        let examples = try TrainingFixtures.cemsSlice.get()
        var options = FineTuneOptions(
            epochs: 1, batchSize: 16, maxTokens: 32, validationFraction: 0.25, evaluationsPerEpoch: 1, maxSteps: 2)
        options.seed = 5
        var evaluations: [Double] = []
        let validationSets = Mutex<[[Int]]>([])
        // The objective is a value: here minus the validation MSE, on the validation examples it is told about.
        let objective: TransformerFineTuner.Objective = { predicted, validation in
            validationSets.withLock { $0.append(validation) }
            var total = 0.0
            for (row, index) in zip(predicted, validation) {
                for j in row.indices {
                    total += (row[j] - examples[index].target[j]) * (row[j] - examples[index].target[j])
                }
            }
            return -total / Double(max(1, validation.count))
        }
        let fitted = try TransformerFineTuner.fit(
            pretrained: pretrained, examples: examples, options: options, objective: objective,
            progress: { event in
                if case .evaluation(_, _, let objective, _, _) = event { evaluations.append(objective) }
            })
        #expect(evaluations.count == 2 && evaluations.allSatisfy { $0.isFinite })
        let held = TransformerFineTuner.validationSplit(count: examples.count, options: options).test
        #expect(validationSets.withLock { $0.allSatisfy { $0 == held } } && held.count == 16)
        let tokens = examples.prefix(8).map(\.tokens)
        let predicted = fitted.predictTargets(Array(tokens))
        #expect(predicted.count == 8 && predicted.allSatisfy { $0.count == 4 && $0.allSatisfy(\.isFinite) })
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ft-\(UUID().uuidString).safetensors")
            .path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try fitted.write(to: path)
        let restored = try FineTunedModel(contentsOf: path)
        #expect(restored.model.values == fitted.model.values)
        #expect(restored.configuration == fitted.configuration && restored.maxTokens == 32)
        let again = restored.predictTargets(Array(tokens))
        for (a, b) in zip(predicted, again) { for (x, y) in zip(a, b) { #expect(abs(x - y) < 1e-5) } }
    }

    @Test("a restored file with a missing tensor is refused with its name")
    func missingTensorIsRefused() throws {
        let model = TrainingFixtures.tinyFloatModel()
        let fitted = FineTunedModel(model: model, maxTokens: 16)
        var tensors = fitted.tensors()
        tensors["encoder.layer.1.output.dense.bias"] = nil
        #expect(throws: FineTuneError.self) { _ = try FineTunedModel(tensors: tensors, metadata: fitted.metadata()) }
        do {
            _ = try FineTunedModel(tensors: tensors, metadata: fitted.metadata())
        } catch {
            #expect(error.message.contains("encoder.layer.1.output.dense.bias"))
        }
    }
}

struct EncoderFolderTests {
    @Test("a written encoder folder runs the fine-tuned weights in SentenceEncoder, and the head finishes from it")
    func encoderFolderRunsInSentenceEncoder() throws {
        let directory = TrainingFixtures.modelDirectory
        var model = try TrainableMiniLM<Float>(
            directory: directory, head: RegressionHeadConfig(outputCount: 4, hiddenSize: 8, normalizesEmbedding: true),
            seed: 1)
        // Stand-in for fine-tuning: move one layer so the folder must carry the new weights to match.
        var generator = SeededGenerator(seed: 2)
        for i in model.layout["encoder.layer.5.intermediate.dense.weight"].range {
            model.values[i] += Float(generator.nextGaussian() * 0.02)
        }
        let fitted = FineTunedModel(model: model, maxTokens: 128)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ft-folder-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try fitted.writeEncoderFolder(to: folder, copyingFrom: directory)
        let encoder = try SentenceEncoder(directory: folder)
        let original = try SentenceEncoder(directory: directory)
        let prompts = ["a white and empty wall", "a colorful park with a crowd, 35mm photograph"]
        let tokens = prompts.map { encoder.tokenize($0) }
        let ours = FineTunedModel.embed(model, tokens, workers: 1)
        var theirs: [Float] = []
        for (i, prompt) in prompts.enumerated() {
            let embedding = encoder.encode(prompt)
            theirs += embedding
            let difference = (0..<384).reduce(Float(0)) { max($0, abs(ours[i * 384 + $1] - embedding[$1])) }
            #expect(difference < 1e-5, "\(prompt): \(difference) from the training pass")
            let moved = zip(original.encode(prompt), embedding).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
            #expect(moved > 1e-4, "the folder still holds the pretrained weights")
        }
        let fromFolder = fitted.predictTargets(fromEmbeddings: theirs)
        let direct = fitted.predictTargets(tokens, workers: 1)
        for (a, b) in zip(fromFolder, direct) { for (x, y) in zip(a, b) { #expect(abs(x - y) < 1e-4) } }
    }
}
