import CATImageCore
import CATImageEncoder
import Testing

@testable import CATImageTraining

/// Gradient checks of the backward pass against central finite differences, in Float64, on a tiny encoder
/// (2 layers, hidden 8, 2 heads, vocabulary 20): every parameter of every tensor is checked.
struct GradientCheckTests {
    /// One model variant to check.
    struct Variant: Sendable, CustomTestStringConvertible {
        var headHidden: Int
        var normalizes: Bool
        var dropout: Bool
        var testDescription: String {
            "head \(headHidden == 0 ? "linear" : "MLP \(headHidden)"), normalise \(normalizes), dropout \(dropout)"
        }
    }

    static let variants = [
        Variant(headHidden: 0, normalizes: false, dropout: false),
        Variant(headHidden: 6, normalizes: true, dropout: false),
        Variant(headHidden: 0, normalizes: true, dropout: true),
        Variant(headHidden: 5, normalizes: false, dropout: true),
    ]

    /// Tolerance: |analytic − numeric| ≤ 1e-6 · max(|analytic|, |numeric|) + 1e-9, with step 1e-5.
    static let relativeTolerance = 1e-6
    static let absoluteTolerance = 1e-9

    static func tinyModel(_ variant: Variant) -> TrainableMiniLM<Double> {
        let config = MiniLM.Configuration(
            hiddenSize: 8, layerCount: 2, headCount: 2, intermediateSize: 16, vocabularySize: 20,
            maxPositionEmbeddings: 12,
            hiddenDropout: 0.2, attentionDropout: 0.25)
        let head = RegressionHeadConfig(
            outputCount: 3, hiddenSize: variant.headHidden, normalizesEmbedding: variant.normalizes)
        var model = TrainableMiniLM<Double>(layout: ParameterLayout(encoder: config, head: head), seed: 7)
        // Move every value off BERT's initialisation (unit LayerNorm, zero biases, tiny matrices) so that no
        // path of the backward pass is checked only at a degenerate point.
        var generator = SeededGenerator(seed: 11)
        for i in model.values.indices { model.values[i] += generator.nextGaussian() * 0.3 }
        return model
    }

    @Test("every parameter's gradient matches central differences", arguments: variants)
    func gradientMatchesFiniteDifferences(variant: Variant) {
        let model = Self.tinyModel(variant)
        let sequences: [[Int32]] = [[1, 5, 9, 3, 2], [1, 17, 2], [1, 4, 4, 19, 8, 11, 2]]
        let batch = TokenBatch(sequences)
        var generator = SeededGenerator(seed: 3)
        let targets = (0..<(3 * 3)).map { _ in generator.nextGaussian() }
        let plan = variant.dropout ? DropoutPlan(seed: 5, step: 2, promptIndices: [0, 1, 2]) : nil
        let scale = 1.0 / 9
        var analytic = [Double](repeating: 0, count: model.layout.count)
        _ = analytic.withUnsafeMutableBufferPointer {
            model.lossAndGradient(
                batch: batch, targets: targets, scale: scale, dropout: plan, gradient: $0.baseAddress!)
        }
        var scratch = [Double](repeating: 0, count: model.layout.count)
        func loss(_ probe: TrainableMiniLM<Double>) -> Double {
            scratch.withUnsafeMutableBufferPointer {
                probe.lossAndGradient(
                    batch: batch, targets: targets, scale: scale, dropout: plan, gradient: $0.baseAddress!)
            }
        }
        let step = 1e-5
        var probe = model
        var worst: (error: Double, name: String) = (0, "")
        var checked = 0
        for entry in model.layout.entries {
            for i in entry.range {
                let original = probe.values[i]
                probe.values[i] = original + step
                let up = loss(probe)
                probe.values[i] = original - step
                let down = loss(probe)
                probe.values[i] = original
                let numeric = (up - down) / (2 * step)
                let difference = abs(analytic[i] - numeric)
                let size = max(abs(analytic[i]), abs(numeric))
                let relative = difference / max(size, 1e-12)
                if size > 1e-7 && relative > worst.error { worst = (relative, entry.name) }
                checked += 1
                #expect(
                    difference <= Self.relativeTolerance * size + Self.absoluteTolerance,
                    "\(entry.name)[\(i - entry.offset)]: analytic \(analytic[i]) vs numeric \(numeric)")
            }
        }
        #expect(checked == model.layout.count)
        // Every tensor must receive some gradient, except the key biases: softmax ignores a shift shared by a row,
        // so their exact gradient is zero.
        for entry in model.layout.entries {
            let total = analytic[entry.range].reduce(0) { $0 + abs($1) }
            if entry.name.hasSuffix("key.bias") {
                #expect(total < 1e-12, "\(entry.name) should have a zero gradient, got \(total)")
            } else {
                #expect(total > 1e-6, "\(entry.name) received no gradient")
            }
        }
        print(
            "gradient check [\(variant.testDescription)]: \(checked) parameters, worst relative error \(worst.error) (\(worst.name))"
        )
    }
}
