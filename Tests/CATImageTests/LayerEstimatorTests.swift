import CATImage
import CATImageCore
import Foundation
import Testing

/// Estimators on an earlier encoder layer's means (`krr:layer=4`, ``LayerEstimator``).
@Suite("Estimators on an encoder layer")
struct LayerEstimatorTests {
    /// A problem whose signal is in layer 4's means only: the sentence embedding is noise, so an estimator that
    /// really reads the layer beats the same estimator on the embedding.
    static let problem: (dataset: RoutingDataset, features: Matrix, layer: Matrix, encoder: LookupEncoder) = {
        let informative = SyntheticProblem(prompts: 600, seed: 11)
        var random = SeededGenerator(seed: 3)
        let texts = informative.dataset.prompts.map(\.text)
        let noise = Matrix(
            rowVectors: texts.map { _ in
                let x = (0..<16).map { _ in Float(random.nextGaussian()) }
                let norm = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
                return x.map { $0 / norm }
            })
        var encoder = LookupEncoder(
            rows: Dictionary(uniqueKeysWithValues: zip(texts, (0..<noise.rows).map { noise.row($0) })), dimension: 16)
        encoder.layers = [4: informative.encoder.rows]
        return (informative.dataset, noise, informative.features, encoder)
    }()

    static func training(_ indices: [Int], layer: Bool = true) -> TrainingSet {
        let input = EstimatorInput(
            texts: indices.map { problem.dataset.prompts[$0].text }, features: problem.features.rows(at: indices),
            layerMeans: layer ? [4: problem.layer.rows(at: indices)] : [:])
        let all = problem.dataset.qualityRows()
        return TrainingSet(input: input, targets: indices.map { all[$0] })
    }

    @Test("krr:layer=4 is krr on layer 4: parsed, printed, read as layer 4 and kept through JSON")
    func layerOptionParsesAndRoundTrips() throws {
        let specs = try EstimatorSpec.parseList("krr:layer=4,kernel:tau=0.05+krr+krr:layer=4:tau=0.3")
        #expect(specs[0] == .onLayer(layer: 4, estimator: .krr(tau: 0.2, alpha: 1)))
        #expect(specs[0].description == "krr(tau=0.2,alpha=1)@layer4")
        #expect(specs[0].reads == .layerMeans(4) && specs[0].reads.layers == [4])
        #expect(specs[1].reads.contains(.features) && specs[1].reads.layers == [4])
        let data = try JSONEncoder().encode(specs[1])
        #expect(try JSONDecoder().decode(EstimatorSpec.self, from: data) == specs[1])
    }

    @Test("layer= on an estimator that cannot read a layer, or a negative layer, is refused with the reason")
    func layerOptionRejectsWhatCannotReadALayer() {
        for text in ["lexical:layer=4", "transformer:layer=2", "knn:layer=-1", "krr:layer=four"] {
            #expect(throws: EstimatorError.self, "\(text) was accepted") { try EstimatorSpec.parseList(text) }
        }
        do {
            _ = try EstimatorSpec.parseList("lexical:layer=4")
        } catch {
            #expect("\(error)".contains("only knn, kernel, ridge, krr, mlp or mean can read an encoder layer"))
        }
    }

    @Test("an estimator on layer 4 predicts as the same estimator given layer 4 as its features")
    func layerEstimatorReadsTheLayer() throws {
        let train = Array(0..<400)
        let test = Array(400..<600)
        let onLayer = try EstimatorSpec.onLayer(layer: 4, estimator: .krr(tau: 0.2, alpha: 1)).fit(Self.training(train))
        let direct = try EstimatorSpec.krr(tau: 0.2, alpha: 1).fit(
            TrainingSet(features: Self.problem.layer.rows(at: train), targets: Self.training(train).targets))
        let input = Self.training(test).input
        #expect(onLayer.predict(input) == direct.predict(Self.problem.layer.rows(at: test)))
        #expect(onLayer.spec == .onLayer(layer: 4, estimator: .krr(tau: 0.2, alpha: 1)))

        // The signal is only in the layer: on the embedding the same estimator is worse.
        let onEmbedding = try EstimatorSpec.krr(tau: 0.2, alpha: 1).fit(Self.training(train))
        let truth = Self.training(test).targets
        func error(_ predicted: [[Double]]) -> Double {
            var sum = 0.0
            for (row, target) in zip(predicted, truth) {
                for (p, t) in zip(row, target) { sum += (p - t) * (p - t) }
            }
            return sum
        }
        #expect(error(onLayer.predict(input)) < 0.7 * error(onEmbedding.predict(input)))
    }

    @Test("fitting on a layer the training data lacks is an error naming the layer")
    func missingLayerIsAnError() {
        do {
            _ = try EstimatorSpec.onLayer(layer: 4, estimator: .krr(tau: 0.2, alpha: 1))
                .fit(Self.training(Array(0..<50), layer: false))
            Issue.record("a fit without the layer's means succeeded")
        } catch {
            #expect("\(error)".contains("encoder layer 4"))
        }
    }

    @Test("auto picks a layer candidate when the signal is in the layer, and drops it when the data has no layer")
    func autoUsesLayerCandidatesOnlyWhenTheDataCarriesThem() throws {
        let layerMember = EstimatorSpec.onLayer(layer: 4, estimator: .krr(tau: 0.2, alpha: 1))
        let options = AutoOptions(
            candidates: [.krr(tau: 0.2, alpha: 1), layerMember, .ensemble([.kernel(tau: 0.05), layerMember])],
            anchor: nil, fineTuned: nil)
        let indices = Array(0..<400)
        let chosen = try EstimatorSpec.auto(options).fit(Self.training(indices))
        #expect(chosen.spec.reads.layers == [4], "chose \(chosen.spec)")

        // Without the layer's means the layer candidates drop out (the ensemble keeps its kernel) instead of
        // failing; the embedding is noise here, so nothing beats the mean.
        let fallback = try EstimatorSpec.auto(options).fit(Self.training(indices, layer: false))
        #expect(fallback.spec.reads.layers.isEmpty, "chose \(fallback.spec)")
        #expect(
            EstimatorSpec.ensemble([.kernel(tau: 0.05), layerMember]).restricted(to: [.features, .texts])
                == .kernel(tau: 0.05))
    }

    @Test("a router with a layer-4 member is written, loaded and decides from the encoder's layer means")
    func routerServesTheLayerMember() throws {
        let indices = Array(0..<400)
        let spec = try EstimatorSpec.parseList("kernel:tau=0.05+krr:layer=4")[0]
        let router = try RouterTrainer.train(
            dataset: Self.problem.dataset.subset(indices), features: Self.problem.features.rows(at: indices),
            layerMeans: [4: Self.problem.layer.rows(at: indices)], encoder: Self.problem.encoder, estimator: spec)
        let path = temporaryPath("layer.catimage")
        try router.write(to: path)
        let loaded = try Router.load(contentsOf: path, encoder: Self.problem.encoder)
        #expect(loaded.estimator.spec == spec)
        let prompts = (400..<450).map { Self.problem.dataset.prompts[$0].text }
        let input = EstimatorInput(
            texts: prompts, features: Self.problem.features.rows(at: Array(400..<450)),
            layerMeans: [4: Self.problem.layer.rows(at: Array(400..<450))])
        #expect(loaded.predictQualities(for: prompts) == router.estimator.predict(input))

        // The same file with an encoder that taps no layers is refused before serving a wrong decision.
        var flat = Self.problem.encoder
        flat.layers = [:]
        do {
            _ = try Router.load(contentsOf: path, encoder: flat)
            Issue.record("an encoder without layers loaded a router that reads layer 4")
        } catch let error as RouterFileError {
            #expect(error.code == .encoderMismatch)
            #expect(error.description.contains("encoder layer 4"))
        }
    }
}
