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

    /// The first `count` prompts of CEMS (CLIP score unless `metric` says otherwise, seconds as cost).
    static func cems(_ count: Int, metric: String = "clip") throws -> RoutingDataset {
        let folder = (DatasetLocation.directory(relativeTo: packageRoot) as NSString).appendingPathComponent("cems")
        do {
            var report = DatasetLoadReport()
            return try RoutingDataset.loadCEMS(directory: folder, metric: metric, report: &report)
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

    @Test(
        "a transformer trained for the decision too fits on real prompts and costs, unlike the plain one, and keeps it")
    func decisionLossFineTune() throws {
        let dataset = try TransformerFixtures.cems(96)
        let encoder = try TransformerFixtures.encoder()
        let features = encoder.embed(dataset.prompts.map(\.text))
        var options = TransformerFixtures.options
        options.fineTune.decision = DecisionOptions(weight: 3, temperature: 0.2)
        func router(_ options: TransformerOptions) throws -> Router {
            try RouterTrainer.train(
                dataset: dataset, features: features, encoder: encoder, estimator: .transformer(options),
                lambda: .fixed(0), seed: 3)
        }
        let decision = try router(options)
        let plain = try router(TransformerFixtures.options)
        let prompts = ["a white and empty wall", "a colorful park with a crowd of people flying kites at sunset"]
        let a = decision.predictQualities(for: prompts)
        let b = plain.predictQualities(for: prompts)
        #expect(a.joined().allSatisfy(\.isFinite) && a != b)
        let path = temporaryPath("transformer-decision.catimage")
        try decision.write(to: path)
        let loaded = try Router.load(contentsOf: path, encoder: encoder)
        #expect(loaded.estimator.spec.description == "transformer(relative,epochs=1,decision=3,t=0.2)")
        for (x, y) in zip(a.joined(), loaded.predictQualities(for: prompts).joined()) { #expect(abs(x - y) < 1e-4) }
    }

    @Test("a multi-task transformer learns NIMA beside CLIP on real prompts, unlike the plain one, and predicts CLIP")
    func multiTaskFineTune() throws {
        let clip = try TransformerFixtures.cems(96)
        let nima = try TransformerFixtures.cems(96, metric: "nima")
        let dataset = try clip.attachingAuxiliary(nima)
        let encoder = try TransformerFixtures.encoder()
        let features = encoder.embed(dataset.prompts.map(\.text))
        var options = TransformerFixtures.options
        options.fineTune.auxiliaryWeight = 1
        func router(_ options: TransformerOptions, _ dataset: RoutingDataset) throws -> Router {
            try RouterTrainer.train(
                dataset: dataset, features: features, encoder: encoder, estimator: .transformer(options),
                lambda: .fixed(0), seed: 3)
        }
        let multiTask = try router(options, dataset)
        // The auxiliary metric is ignored without the option: the plain fine-tune is the one without NIMA.
        let plain = try router(TransformerFixtures.options, dataset)
        let alone = try router(TransformerFixtures.options, clip)
        let prompts = ["a white and empty wall", "a colorful park with a crowd of people flying kites at sunset"]
        let a = multiTask.predictQualities(for: prompts)
        #expect(a.count == 2 && a.allSatisfy { $0.count == 4 && $0.allSatisfy(\.isFinite) })
        #expect(a != plain.predictQualities(for: prompts))
        #expect(plain.predictQualities(for: prompts) == alone.predictQualities(for: prompts))
        let path = temporaryPath("transformer-multitask.catimage")
        try multiTask.write(to: path)
        let loaded = try Router.load(contentsOf: path, encoder: encoder)
        #expect(loaded.estimator.spec.description == "transformer(relative,epochs=1,multitask=1)")
        for (x, y) in zip(a.joined(), loaded.predictQualities(for: prompts).joined()) { #expect(abs(x - y) < 1e-4) }
        // Asking for it without another metric says what is missing.
        do {
            _ = try router(options, clip)
            Issue.record("fitted a multi-task transformer without an auxiliary metric")
        } catch let error as EstimatorError {
            #expect(error.message.contains("--auxiliary"))
        }
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

    /// Format-1 code wrote a partner-less transformer as it wrote the committed fixture, without the `ridge` tensors
    /// and α. The test makes that file from the fixture instead of committing 90 MB of fine-tuned weights: the
    /// fixture's tiny encoder (hidden size 4, one layer) becomes a model folder with the real MiniLM tokenizer (its
    /// word embeddings widened to the tokenizer's vocabulary), and the router says it was fine-tuned from it.
    @Test("a partner-less format-1 transformer router loads and predicts what its fine-tuned model computes")
    func formatOnePartnerlessTransformerLoads() throws {
        let real = try TransformerFixtures.encoder()
        let source = try SafetensorsFile(
            contentsOf: Self.fixtures.appendingPathComponent("format1-transformer-ridge.catimage").path)
        #expect(source.metadata["version"] == "1")
        let configText = try #require(source.metadata["config"])
        let configObject = try JSONSerialization.jsonObject(with: Data(configText.utf8))
        var config = try #require(configObject as? [String: Any])
        var estimator = try #require(config["estimator"] as? [String: Any])
        var transformer = try #require(estimator["transformer"] as? [String: Any])
        var options = try #require(transformer["_0"] as? [String: Any])
        var fineTune = try #require(options["fineTune"] as? [String: Any])
        var model = try #require(options["model"] as? [String: Any])
        var modelEncoder = try #require(model["encoder"] as? [String: Any])
        let vocabulary = real.configuration.vocabularySize
        let hidden = try #require(modelEncoder["hidden_size"] as? Int)
        modelEncoder["vocab_size"] = vocabulary

        // The fixture's encoder tensors, word embeddings widened with seeded values.
        var tensors: [String: SafetensorsTensor] = [:]
        for name in source.tensorNames where !name.hasPrefix("estimator.ridge.") {
            tensors[name] = try source.tensor(named: name)
        }
        let words = try #require(tensors["estimator.embeddings.word_embeddings.weight"])
        var random = SeededGenerator(seed: 5)
        let extra = (0..<(vocabulary * hidden - words.values.count)).map { _ in Float.random(in: -1...1, using: &random)
        }
        tensors["estimator.embeddings.word_embeddings.weight"] = SafetensorsTensor(
            shape: [vocabulary, hidden], values: words.values + extra)

        // The frozen encoder it was "fine-tuned from": a model folder of those weights and the real tokenizer.
        let folder = temporaryPath("tiny-minilm")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for file in ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"] {
            let from = (real.directory as NSString).appendingPathComponent(file)
            if FileManager.default.fileExists(atPath: from) {
                try FileManager.default.copyItem(
                    atPath: from, toPath: (folder as NSString).appendingPathComponent(file))
            }
        }
        try JSONSerialization.data(withJSONObject: modelEncoder, options: [.sortedKeys]).write(
            to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent("config.json")))
        var encoderTensors: [String: SafetensorsTensor] = [:]
        for (name, tensor) in tensors
        where name.hasPrefix("estimator.embeddings.") || name.hasPrefix("estimator.encoder.") {
            encoderTensors[String(name.dropFirst("estimator.".count))] = tensor
        }
        try SafetensorsWriter.write(
            tensors: encoderTensors, metadata: [:], to: (folder as NSString).appendingPathComponent("model.safetensors")
        )
        let encoder = try SentenceEncoder(directory: folder)
        #expect(encoder.dimension == hidden)

        // The router file as format-1 code wrote a partner-less transformer.
        fineTune["ensembleRidgeAlpha"] = nil
        model["ridgeAlpha"] = nil
        model["encoder"] = modelEncoder
        options["fineTune"] = fineTune
        options["model"] = model
        transformer["_0"] = options
        estimator["transformer"] = transformer
        config["estimator"] = estimator
        config["encoder"] = ["identifier": encoder.modelIdentifier, "weightsDigest": encoder.weightsDigest]
        var metadata = source.metadata
        metadata["config"] = String(
            decoding: try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]), as: UTF8.self)
        let path = temporaryPath("format1-transformer.catimage")
        try SafetensorsWriter.write(tensors: tensors, metadata: metadata, to: path)

        let router = try Router.load(contentsOf: path, encoder: encoder)
        let loaded = try #require(router.estimator as? TransformerEstimator, "\(router.estimator.spec)")
        #expect(router.generators.map(\.name) == ["g0", "g1", "g2"])
        let prompts = ["a white and empty wall", "a red fox in the snow", "an astronaut riding a horse on the moon"]
        let predicted = router.predictQualities(for: prompts)
        let tokens = prompts.map { encoder.tokenizer.encode($0, maxLength: 4) }
        let direct = loaded.fineTuned.predictTargets(tokens).map(loaded.scaling.quality(fromTarget:))
        #expect(predicted.count == 3 && predicted.allSatisfy { $0.count == 3 && $0.allSatisfy(\.isFinite) })
        for (a, b) in zip(predicted, direct) { for (x, y) in zip(a, b) { #expect(abs(x - y) < 1e-3) } }
        // Different prompts, different predictions: the model reads them.
        #expect(predicted[0] != predicted[1])

        // Written again, it is a format-2 file that loads to the same predictions.
        let rewritten = temporaryPath("format1-transformer-rewritten.catimage")
        try router.write(to: rewritten)
        #expect(try SafetensorsFile(contentsOf: rewritten).metadata["version"] == "2")
        let again = try Router.load(contentsOf: rewritten, encoder: encoder).predictQualities(for: prompts)
        for (a, b) in zip(predicted, again) { for (x, y) in zip(a, b) { #expect(abs(x - y) < 1e-6) } }
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
