import CATImage
import CATImageCore
import CATImageEncoder
import CATImageTraining
import Foundation
import Testing

/// The real MiniLM and a CEMS slice, for the Transformer estimator's tests.
enum TransformerFixtures {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static func encoder() throws -> SentenceEncoder {
        let directory = ModelStore.defaultModelDirectory
        do { return try SentenceEncoder(directory: directory) } catch {
            throw FixtureFailure(
                "cannot load MiniLM from \(directory): \(error). Run `catimage model fetch` or set CATIMAGE_MODEL_DIR.")
        }
    }

    /// The first `count` prompts of CEMS (CLIP score, seconds as cost).
    static func cems(_ count: Int) throws -> RoutingDataset {
        let folder = (DatasetLocation.directory(relativeTo: packageRoot) as NSString).appendingPathComponent("cems")
        do {
            var report = DatasetLoadReport()
            return try RoutingDataset.loadCEMS(directory: folder, metric: "clip", report: &report)
                .subset(Array(0..<count))
        } catch {
            throw FixtureFailure("cannot load CEMS from \(folder): \(error). Set CATIMAGE_DATASETS.")
        }
    }

    /// Two optimizer steps on prompts of at most 32 tokens: enough to move the weights, fast in a test.
    static let options = TransformerOptions(
        fineTune: FineTuneOptions(epochs: 1, batchSize: 16, maxTokens: 32, evaluationsPerEpoch: 1, maxSteps: 2))
}

struct FixtureFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct TransformerEstimatorTests {
    @Test("a transformer+ridge router trains, writes, and loads back to the same decisions through the common code")
    func transformerEnsembleRoundTrip() throws {
        let dataset = try TransformerFixtures.cems(96)
        let encoder = try TransformerFixtures.encoder()
        let texts = dataset.prompts.map(\.text)
        let spec = EstimatorSpec.ensemble([.transformer(TransformerFixtures.options), .ridge(alpha: 30)])
        let router = try RouterTrainer.train(
            dataset: dataset, features: encoder.embed(texts), encoder: encoder, estimator: spec, lambda: .fixed(0),
            seed: 3)
        #expect(router.estimator.spec.description == "transformer(relative,epochs=1)+ridge(alpha=30)")
        #expect(!router.calibration.isEmpty, "λ is calibrated on the held-out early-stopping prompts")
        #expect(router.encoderDigest == encoder.weightsDigest)

        let path = temporaryPath("transformer-ridge.catimage")
        try router.write(to: path)
        let loaded = try Router.load(contentsOf: path, encoder: encoder)
        #expect(loaded.estimator.spec == router.estimator.spec)
        let prompts = ["a white and empty wall", "a colorful park with a crowd of people flying kites at sunset"]
        let before = router.predictQualities(for: prompts)
        let after = loaded.predictQualities(for: prompts)
        for (a, b) in zip(before, after) { for (x, y) in zip(a, b) { #expect(abs(x - y) < 1e-4) } }
        #expect(
            router.decide(prompts: prompts).map(\.generator) == loaded.decide(prompts: prompts).map(\.generator))

        // The inference encoder gives what the fine-tuning engine's own (training) pass computes.
        guard let ensemble = loaded.estimator as? EnsembleEstimator,
            let transformer = ensemble.members.first as? TransformerEstimator
        else {
            Issue.record("the loaded estimator is not transformer + ridge: \(loaded.estimator.spec)")
            return
        }
        let tokens = prompts.map { encoder.tokenizer.encode($0, maxLength: 32) }
        let direct = transformer.fineTuned.predictTargets(tokens).map(transformer.scaling.quality(fromTarget:))
        let viaEncoder = transformer.predict(EstimatorInput(texts: prompts, features: nil))
        for (a, b) in zip(direct, viaEncoder) { for (x, y) in zip(a, b) { #expect(abs(x - y) < 1e-3) } }
    }

    @Test("the evaluation fits transformer+kernel like any estimator and reports each member alone from one fit")
    func evaluationOfTheEnsemble() throws {
        let dataset = try TransformerFixtures.cems(96)
        let encoder = try TransformerFixtures.encoder()
        let spec = try EstimatorSpec.parseList("transformer:max-tokens=32:max-steps=2:batch=16+kernel:tau=0.05")[0]
        let report = try RouterEvaluation.run(
            dataset: dataset, features: encoder.embed(dataset.prompts.map(\.text)), estimators: [spec],
            split: .trainTest(testFraction: 0.25, seeds: [1]), encoder: encoder, memberSubsets: true)
        #expect(
            report.routers.map(\.router.estimator) == [
                spec.description, "transformer(relative,epochs=4)", "kernel(tau=0.05)",
            ])
        #expect(report.routers.allSatisfy { $0.router.area?.isFinite == true })
    }

    @Test("fitting the transformer without the sentence encoder is refused with a message saying what it needs")
    func transformerNeedsTheEncoder() throws {
        let data = TrainingSet(features: Matrix(rows: 2, columns: 2, storage: [1, 0, 0, 1]), targets: [[1], [2]])
        do {
            _ = try EstimatorSpec.transformer(TransformerOptions()).fit(data)
            Issue.record("fitted a transformer without its encoder")
        } catch let error as EstimatorError {
            #expect(error.message.contains("MiniLM sentence encoder"))
        }
    }
}

struct FormatOneRouterFileTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    @Test("a kNN router file of format version 1 still loads and routes as the code that wrote it did")
    func formatOneKNNLoads() throws {
        let problem = SyntheticProblem(prompts: 24, clusters: 3, dimension: 4, seed: 11)
        let router = try Router.load(
            contentsOf: Self.fixtures.appendingPathComponent("format1-knn.catimage").path, encoder: problem.encoder)
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("format1-knn.expected.json"))
        let expected = try JSONDecoder().decode([String: [[String]]].self, from: data)
        let prompts = ["prompt 0", "prompt 5", "prompt 17"]
        let qualities = router.predictQualities(for: prompts)
        for (row, want) in zip(qualities, expected["qualities"] ?? []) {
            for (value, text) in zip(row, want) { #expect(abs(value - (Double(text) ?? .nan)) < 1e-12) }
        }
        #expect(router.decide(prompts: prompts).map(\.generator) == expected["decisions"]?.first)
    }

    @Test("a format-1 transformer with partners inside is refused, naming the version and how to retrain")
    func formatOneTransformerIsRefused() throws {
        let path = Self.fixtures.appendingPathComponent("format1-transformer-ridge.catimage").path
        do {
            _ = try Router.load(contentsOf: path, encoder: LookupEncoder(rows: [:], dimension: 4))
            Issue.record("loaded a format-1 transformer with partners")
        } catch let error as RouterFileError {
            #expect(error.code == .formerVersion)
            #expect(error.message.contains("format version 1"), "\(error)")
            #expect(error.message.contains("catimage train --estimator transformer:target=relative+ridge:alpha=30"))
        }
    }
}
