import CATImage
import CATImageCore
import CATImageEncoder
import Foundation
import Synchronization
import Testing

/// `auto` and its fine-tuned candidate: tried only on large enough data, kept only when it wins on the fine-tune's
/// held-out prompts, and calibrated there by a router.
@Suite("auto with the fine-tuned candidate")
struct AutoFineTuneTests {
    /// Prompts whose better generator is decided by a word (LexicalEstimatorTests' planted words), with the real
    /// MiniLM's embeddings; `signal: false` replaces the qualities with noise.
    static func data(prompts: Int, signal: Bool, encoder: SentenceEncoder) -> TrainingSet {
        let planted = LexicalEstimatorTests.plantedWords(prompts: prompts, seed: 5)
        var random = SeededGenerator(seed: 6)
        let quality = signal ? planted.quality : planted.quality.map { $0.map { _ in random.nextGaussian() } }
        return TrainingSet(
            input: EstimatorInput(texts: planted.texts, features: encoder.embed(planted.texts)), targets: quality,
            encoder: encoder)
    }

    /// The mean as the only frozen choice, and transformer + lexical tried from `minimum` prompts.
    static func options(minimum: Int) -> AutoOptions {
        AutoOptions(
            candidates: [], anchor: nil,
            fineTuned: .ensemble([.transformer(TransformerFixtures.options), .lexical(LexicalOptions())]),
            fineTuneMinimum: minimum)
    }

    @Test("auto fine-tunes only from its minimum size, and keeps the fine-tuned candidate only when it wins held out")
    func fineTunedCandidateRule() throws {
        let encoder = try TransformerFixtures.encoder()
        let data = Self.data(prompts: 200, signal: true, encoder: encoder)
        let lines = Mutex<[String]>([])
        let record: @Sendable (String) -> Void = { line in lines.withLock { $0.append(line) } }

        let below = try EstimatorSpec.auto(Self.options(minimum: 201)).fit(data, seed: 2, progress: record)
        #expect(below.spec == .mean)
        #expect(!lines.withLock { $0 }.contains { $0.contains("trying") }, "no fine-tune below the minimum")

        let kept = try EstimatorSpec.auto(Self.options(minimum: 200)).fit(data, seed: 2, progress: record)
        #expect(kept.spec.description.hasPrefix("transformer(relative,epochs=1)+lexical"), "auto chose \(kept.spec)")
        #expect(
            lines.withLock { $0 }.contains { $0.contains("trying") && $0.contains("on the fine-tune's 20 held-out") })

        let noise = Self.data(prompts: 200, signal: false, encoder: encoder)
        let rejected = try EstimatorSpec.auto(Self.options(minimum: 200)).fit(noise, seed: 2, progress: record)
        #expect(rejected.spec == .mean, "on noise the fine-tuned candidate must not win: \(rejected.spec)")
        #expect(lines.withLock { $0 }.contains { $0.contains("not kept") })

        let parsed = try EstimatorSpec.parseList("auto:transformer=off,auto:transformer-min=2000")
        #expect(parsed[0] == .auto(AutoOptions(fineTuned: nil)))
        #expect(parsed[1] == .auto(AutoOptions(fineTuneMinimum: 2000)))
        expectParseError("auto:transformer=maybe", contains: "on or off")
        expectParseError("auto:transformer-min=-1", contains: "whole number")
    }

    @Test("a router whose auto chose the fine-tuned candidate calibrates λ on its held-out prompts, fine-tuning once")
    func routerCalibratesAutoFineTuneOnItsHoldout() throws {
        let encoder = try TransformerFixtures.encoder()
        let data = Self.data(prompts: 200, signal: true, encoder: encoder)
        let dataset = RoutingDataset(
            prompts: data.input.texts.enumerated().map { Prompt(id: "p\($0.offset)", text: $0.element) },
            generators: [Generator(name: "g0", cost: 1), Generator(name: "g1", cost: 2)],
            quality: data.targets.flatMap { $0 }, metric: "synthetic", source: "test")
        let lines = Mutex<[String]>([])
        let router = try RouterTrainer.train(
            dataset: dataset, features: data.input.features, encoder: encoder,
            estimator: .auto(Self.options(minimum: 200)), lambda: .fixed(0), seed: 2,
            progress: { line in lines.withLock { $0.append(line) } })
        let log = lines.withLock { $0 }
        #expect(router.estimator.spec.description.hasPrefix("transformer("), "auto chose \(router.estimator.spec)")
        #expect(log.contains { $0.contains("calibrating λ on 20 held-out prompts") }, "\(log)")
        #expect(!log.contains { $0.contains("calibration fold") }, "no fine-tune per calibration fold")
        #expect(log.filter { $0.hasPrefix("fine-tuning") }.count == 1, "\(log)")
    }
}
