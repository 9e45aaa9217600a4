import CATImage
import CATImageCore
import CATImageTraining
import Foundation
import Testing

@Suite("Estimator lists and multi-metric targets")
struct ParsingAndTargetTests {
    @Test("estimator lists parse kinds, inline parameters and ensembles")
    func parseList() throws {
        var defaults = EstimatorDefaults()
        defaults.k = 7
        let specs = try EstimatorSpec.parseList(
            "knn, knn:k=200:weighted, kernel:tau=0.05, ridge:alpha=3, mlp:hidden=64x32, mean, "
                + "kernel:tau=0.05+ridge:alpha=10", defaults: defaults)
        #expect(
            specs == [
                .knn(k: 7, weighted: false), .knn(k: 200, weighted: true), .kernel(tau: 0.05), .ridge(alpha: 3),
                .mlp(MLPOptions(hidden: [64, 32])), .mean, .ensemble([.kernel(tau: 0.05), .ridge(alpha: 10)]),
            ])
        #expect(throws: EstimatorError.self) { try EstimatorSpec.parseList("forest") }
        #expect(throws: EstimatorError.self) { try EstimatorSpec.parseList("knn:k=abc") }
        #expect(throws: EstimatorError.self) { try EstimatorSpec.parseList("ridge:beta=1") }
    }

    @Test("transformer parses its fine-tuning keys; its partners are ensemble members, by `+` or by shorthand")
    func parseTransformer() throws {
        let specs = try EstimatorSpec.parseList(
            "transformer, transformer:target=absolute:epochs=2:ridge=30:kernel=0.05:lr=2e-5:head-lr=0.002:max-tokens=64, "
                + "transformer+kernel:tau=0.05")
        var expected = FineTuneOptions()
        #expect(specs[0] == .transformer(TransformerOptions(fineTune: expected)))
        expected.epochs = 2
        expected.optimizer.encoderLearningRate = 2e-5
        expected.optimizer.headLearningRate = 0.002
        expected.maxTokens = 64
        #expect(
            specs[1]
                == .ensemble([
                    .transformer(TransformerOptions(target: .absolute, fineTune: expected)), .ridge(alpha: 30),
                    .kernel(tau: 0.05),
                ]))
        #expect(specs[1].description == "transformer(absolute,epochs=2)+ridge(alpha=30)+kernel(tau=0.05)")
        #expect(specs[2] == .ensemble([.transformer(TransformerOptions()), .kernel(tau: 0.05)]))
        #expect(specs[0].reads == .texts && specs[2].reads == [.texts, .features])
        // The spec is part of the router file: it must survive JSON.
        let data = try JSONEncoder().encode(specs[1])
        #expect(try JSONDecoder().decode(EstimatorSpec.self, from: data) == specs[1])
        for bad in [
            "transformer:target=sideways", "transformer:epochs=0", "transformer:epochs=1.5",
            "transformer:max-tokens=1000", "transformer:dropout=1.5", "transformer:ridge=-1", "transformer:depth=3",
        ] {
            #expect(throws: EstimatorError.self, "\(bad)") { try EstimatorSpec.parseList(bad) }
        }
    }

    @Test("transformer's decision keys set the decision loss options, name it in the description and survive JSON")
    func transformerDecisionKeys() throws {
        let specs = try EstimatorSpec.parseList("transformer:decision=0.5:decision-t=0.2, transformer:decision=2")
        guard case .transformer(let options) = specs[0], case .transformer(let plain) = specs[1] else {
            Issue.record("not transformers: \(specs)")
            return
        }
        #expect(options.fineTune.decision == DecisionOptions(weight: 0.5, temperature: 0.2))
        #expect(plain.fineTune.decision == DecisionOptions(weight: 2))
        #expect(specs[0].description == "transformer(relative,epochs=4,decision=0.5,t=0.2)")
        #expect(specs[1].description == "transformer(relative,epochs=4,decision=2)")
        #expect(try JSONDecoder().decode(EstimatorSpec.self, from: JSONEncoder().encode(specs[0])) == specs[0])
        // A spec written before the option existed has none.
        let former = try JSONEncoder().encode(EstimatorSpec.transformer(TransformerOptions()))
        #expect(try JSONDecoder().decode(EstimatorSpec.self, from: former) == .transformer(TransformerOptions()))
        for bad in ["transformer:decision=0", "transformer:decision=-1", "transformer:decision-t=0"] {
            #expect(throws: EstimatorError.self, "\(bad)") { try EstimatorSpec.parseList(bad) }
        }
    }

    @Test("transformer's multitask key sets the auxiliary targets' weight, names it and survives JSON; ≤ 0 is refused")
    func transformerMultitaskKey() throws {
        let spec = try EstimatorSpec.parseList("transformer:multitask=0.5")[0]
        guard case .transformer(let options) = spec else {
            Issue.record("not a transformer: \(spec)")
            return
        }
        #expect(options.fineTune.auxiliaryWeight == 0.5)
        #expect(spec.description == "transformer(relative,epochs=4,multitask=0.5)")
        #expect(try JSONDecoder().decode(EstimatorSpec.self, from: JSONEncoder().encode(spec)) == spec)
        guard case .transformer(let plain) = try EstimatorSpec.parseList("transformer")[0] else { return }
        #expect(plain.fineTune.auxiliaryWeight == nil)
        let learning = try EstimatorSpec.parseList(
            "transformer:multitask=2+kernel, ridge+transformer:multitask=1")
        #expect(learning.filter(\.learnsAuxiliaryMetrics).count == 2 && spec.learnsAuxiliaryMetrics)
        let notLearning = try EstimatorSpec.parseList("transformer+kernel, auto, ensemble, lexical")
        #expect(notLearning.filter(\.learnsAuxiliaryMetrics).isEmpty)
        for bad in ["transformer:multitask=0", "transformer:multitask=-1", "transformer:multitask=x"] {
            #expect(throws: EstimatorError.self, "\(bad)") { try EstimatorSpec.parseList(bad) }
        }
    }

    @Test("an auxiliary metric rides along with its prompts through subsets and must list the same prompts")
    func auxiliaryMetric() throws {
        let prompts = [Prompt(id: "a", text: "a"), Prompt(id: "b", text: "b"), Prompt(id: "c", text: "c")]
        let generators = [Generator(name: "x", cost: 1), Generator(name: "y", cost: 2)]
        let one = RoutingDataset(
            prompts: prompts, generators: generators, quality: [0, 1, 2, 3, 4, 5], metric: "one", source: "t")
        let two = RoutingDataset(
            prompts: prompts, generators: generators, quality: [10, 11, 12, 13, 14, 15], metric: "two", source: "t")
        let both = try one.attachingAuxiliary(two)
        #expect(both.auxiliary.map(\.metric) == ["two"] && both.quality == one.quality)
        #expect(both.auxiliaryQualityRows([2, 0]) == [[[14, 15], [10, 11]]])
        let subset = both.subset([2, 0])
        #expect(subset.auxiliaryQualityRows() == [[[14, 15], [10, 11]]])
        #expect(subset.qualityRows() == [[4, 5], [0, 1]])
        do {
            _ = try one.attachingAuxiliary(two.subset([1, 0, 2]))
            Issue.record("attached a metric listing the prompts in another order")
        } catch {
            #expect(error.code == .mismatchedFiles && error.message.contains("'two'"))
        }
        let training = TrainingSet(
            features: Matrix(rows: 3, columns: 1, storage: [1, 2, 3]), targets: one.qualityRows())
        var withAuxiliary = training
        withAuxiliary.auxiliaryQualities = both.auxiliaryQualityRows()
        #expect(withAuxiliary.subset([1]).auxiliaryQualities == [[[12, 13]]])
        #expect(training.subset([1]).auxiliaryQualities.isEmpty)
    }

    @Test("a multi-metric target is the weighted sum of standardized metrics")
    func combinedTarget() throws {
        let prompts = [Prompt(id: "a", text: "a"), Prompt(id: "b", text: "b")]
        let generators = [Generator(name: "x", cost: 1), Generator(name: "y", cost: 2)]
        // Metric one: values 0, 2, 4, 6 (mean 3, population std √5); metric two: 10, 10, 20, 20 (mean 15, std 5).
        let one = RoutingDataset(
            prompts: prompts, generators: generators, quality: [0, 2, 4, 6], metric: "one", source: "t")
        let two = RoutingDataset(
            prompts: prompts, generators: generators, quality: [10, 10, 20, 20], metric: "two", source: "t")
        let combined = try RoutingDataset.combiningMetrics([(one, 1), (two, 0.5)])
        let expected = [0.0, 2, 4, 6].enumerated().map { index, value in
            (value - 3) / 5.0.squareRoot() + 0.5 * ([10.0, 10, 20, 20][index] - 15) / 5
        }
        for (value, want) in zip(combined.quality, expected) { #expect(abs(value - want) < 1e-12) }
        #expect(combined.generators == generators)
        let other = RoutingDataset(
            prompts: [prompts[1], prompts[0]], generators: generators, quality: [0, 0, 0, 0], metric: "three",
            source: "t")
        #expect(throws: EstimatorError.self) { try RoutingDataset.combiningMetrics([(one, 1), (other, 1)]) }
    }
}
