import CATImage
import CATImageCore
import CATImageEncoder
import Foundation
import Testing

/// Members that read the fine-tuned encoder of the transformer beside them (`krr:finetuned`).
@Suite("Fine-tuned view: similarity members on the transformer's fine-tuned vectors")
struct FineTunedViewTests {
    static let spec = EstimatorSpec.ensemble([
        .transformer(TransformerFixtures.options), .onFineTuned(estimator: .krr(tau: 0.2, alpha: 1)),
        .onFineTuned(estimator: .kernel(tau: 0.05)), .kernel(tau: 0.05),
    ])

    @Test("`krr:finetuned` parses to the fine-tuned view; a layer with it, or a text estimator on it, is refused")
    func parsing() throws {
        let specs = try EstimatorSpec.parseList("transformer+krr:finetuned+kernel:tau=0.05:finetuned")
        guard case .ensemble(let members) = specs[0] else {
            Issue.record("not an ensemble: \(specs[0])")
            return
        }
        #expect(members.count == 3)
        #expect(members[1] == .onFineTuned(estimator: .krr(tau: 0.2, alpha: 1)))
        #expect(members[2] == .onFineTuned(estimator: .kernel(tau: 0.05)))
        #expect(members[1].description == "krr(tau=0.2,alpha=1)@finetuned")
        #expect(members[1].reads == .texts)
        for bad in ["krr:finetuned:layer=4", "lexical:finetuned", "transformer:finetuned"] {
            #expect(throws: EstimatorError.self, "\(bad)") { try EstimatorSpec.parseList(bad) }
        }
    }

    @Test("a fine-tuned view without a transformer beside it, or inside a stack, is refused with what it needs")
    func needsTheTransformerBesideIt() throws {
        let problem = SyntheticProblem(prompts: 30, clusters: 3, dimension: 4, seed: 5)
        let data = TrainingSet(
            input: EstimatorInput(texts: problem.dataset.prompts.map(\.text), features: problem.features),
            targets: problem.dataset.qualityRows(Array(0..<30)))
        for spec in [
            EstimatorSpec.onFineTuned(estimator: .krr(tau: 0.2, alpha: 1)),
            .ensemble([.kernel(tau: 0.1), .onFineTuned(estimator: .krr(tau: 0.2, alpha: 1))]),
        ] {
            do {
                _ = try spec.fit(data)
                Issue.record("fitted \(spec) without a transformer")
            } catch let error as EstimatorError {
                #expect(error.message.contains("transformer+krr:finetuned"), "\(error.message)")
            }
        }
        #expect(throws: EstimatorError.self) {
            try EstimatorSpec.parseList("stack(kernel,krr:finetuned)")[0].fit(data)
        }
        // Two transformers: refused before either is fine-tuned (the training set here could not fine-tune one).
        do {
            _ = try EstimatorSpec.parseList("transformer+transformer:epochs=2+krr:finetuned")[0].fit(data)
            Issue.record("fitted a fine-tuned view beside two transformers")
        } catch let error as EstimatorError {
            #expect(error.message.contains("2 transformers"), "\(error.message)")
        }
    }

    @Test("fine-tuned view members store normalised fine-tuned vectors, share a similarity row, and load back")
    func fineTunedViewMembers() throws {
        let dataset = try TransformerFixtures.cems(96)
        let encoder = try TransformerFixtures.encoder()
        let texts = dataset.prompts.map(\.text)
        let frozen = encoder.embed(texts)
        let router = try RouterTrainer.train(
            dataset: dataset, features: frozen, encoder: encoder, estimator: Self.spec, lambda: .fixed(0), seed: 3)
        let ensemble = try #require(router.estimator as? EnsembleEstimator)
        let transformer = try #require(ensemble.members[0] as? TransformerEstimator)
        let view = try #require(ensemble.members[1] as? FineTunedViewEstimator)
        #expect(ensemble.members[2] is FineTunedViewEstimator)
        // The two members on the fine-tuned view share one similarity computation; the frozen kernel is apart.
        #expect(ensemble.sharedSimilarityGroups == [[1, 2]])

        // The stored features are the fine-tuned encoder's vectors of the training prompts (the transformer's
        // early-stopping prompts left out), L2-normalised: not the frozen embedding.
        let stored = try #require(view.tensors()["features"])
        let held = Set(Self.spec.heldOutIndices(count: texts.count, seed: 3) ?? [])
        let fitted = texts.indices.filter { !held.contains($0) }
        #expect(stored.shape == [fitted.count, encoder.dimension])
        var expected = transformer.pooled(for: EstimatorInput(texts: fitted.map { texts[$0] }, features: nil))
        expected.normalizeRows()
        let storedValues = stored.values
        #expect(zip(storedValues, expected.storage).allSatisfy { abs($0 - $1) < 1e-4 })
        let frozenRows = frozen.rows(at: fitted).storage
        #expect(zip(storedValues, frozenRows).map { abs($0 - $1) }.max() ?? 0 > 0.05)

        let prompts = ["a white and empty wall", "a colorful park with a crowd of people flying kites at sunset"]
        let input = EstimatorInput(texts: prompts, features: encoder.embed(prompts))
        let each = ensemble.members.map { $0.predict(input) }
        let predicted = ensemble.predict(input)
        for i in predicted.indices {
            for m in predicted[i].indices {
                let average = each.reduce(0) { $0 + $1[i][m] } / Double(each.count)
                #expect(abs(predicted[i][m] - average) < 1e-6)
            }
        }
        // Every member subset's average, from one prediction per member, equals that subset predicting itself.
        let subsets = ensemble.memberSubsets()
        let fromOnePass = ensemble.memberSubsetPredictions(input)
        #expect(fromOnePass.map(\.spec) == subsets.map(\.spec))
        for (subset, row) in zip(subsets, fromOnePass) {
            for (a, b) in zip(subset.predict(input), row.predicted) {
                for (x, y) in zip(a, b) { #expect(abs(x - y) < 1e-6) }
            }
        }

        let path = temporaryPath("fine-tuned-view.catimage")
        try router.write(to: path)
        let loaded = try Router.load(contentsOf: path, encoder: encoder)
        #expect(loaded.estimator.spec == router.estimator.spec)
        let loadedEnsemble = try #require(loaded.estimator as? EnsembleEstimator)
        #expect(loadedEnsemble.sharedSimilarityGroups == [[1, 2]])
        for (a, b) in zip(router.predictQualities(for: prompts), loaded.predictQualities(for: prompts)) {
            for (x, y) in zip(a, b) { #expect(abs(x - y) < 1e-4) }
        }
    }
}
