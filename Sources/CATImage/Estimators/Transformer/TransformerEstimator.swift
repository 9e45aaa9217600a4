import CATImageCore
import CATImageEncoder
import CATImageTraining

/// The Transformer quality estimator: MiniLM fine-tuned end to end with one output per generator (the paper's
/// Transformer), reading the prompts' texts.
///
/// It runs the fine-tuned encoder through the same inference code as the frozen one (``SentenceEncoder``, packed
/// tokens, OpenBLAS), so a prediction costs what embedding a prompt costs. Partners on frozen features (ridge,
/// kernel) are ordinary estimators averaged with it by ``EnsembleEstimator``.
public struct TransformerEstimator: QualityEstimator {
    /// `.transformer` with the options as run and the model's configuration.
    public let spec: EstimatorSpec
    /// The fine-tuned encoder and head.
    public let fineTuned: FineTunedModel
    /// Maps the head's standardized outputs back to qualities.
    public let scaling: TargetScaling
    /// The fine-tuned encoder's weights in the inference encoder.
    private let inference: SentenceEncoder

    /// An estimator from a fitted model, the scaling of its targets and the frozen encoder it started from
    /// (tokenizer, pooling, identity).
    init(fineTuned: FineTunedModel, scaling: TargetScaling, options: TransformerOptions, frozen: SentenceEncoder)
        throws(EstimatorError)
    {
        guard frozen.dimension == fineTuned.model.layout.encoder.hiddenSize else {
            throw EstimatorError(
                "the fine-tuned model (hidden size \(fineTuned.model.layout.encoder.hiddenSize)) was not started "
                    + "from this encoder (\(frozen.modelIdentifier), dimension \(frozen.dimension))")
        }
        let weights = fineTuned.model.tensors().filter { !$0.key.hasPrefix("head.") }
        do {
            inference = try SentenceEncoder(
                replacingWeightsOf: frozen,
                with: InMemoryWeights(weights, sourceName: "fine-tuned \(frozen.modelIdentifier)"),
                identifier: "\(frozen.modelIdentifier)-fine-tuned", weightsDigest: frozen.weightsDigest,
                maxSequenceLength: fineTuned.maxTokens, normalizes: fineTuned.model.layout.head.normalizesEmbedding)
        } catch {
            throw EstimatorError("the fine-tuned encoder cannot run: \(error)")
        }
        var options = options
        options.model = TransformerOptions.ModelConfiguration(
            encoder: fineTuned.model.layout.encoder, head: fineTuned.model.layout.head, target: scaling.kind,
            maxTokens: fineTuned.maxTokens)
        self.spec = .transformer(options)
        self.fineTuned = fineTuned
        self.scaling = scaling
    }

    /// Number of generators.
    public var outputCount: Int { fineTuned.outputCount }

    /// Qualities `[N][M]` of the input's prompts (up to a per-prompt constant for the relative target).
    public func predict(_ input: EstimatorInput) -> [[Double]] {
        guard input.count > 0 else { return [] }
        return fineTuned.predictTargets(fromEmbeddings: pooled(for: input).storage).map(scaling.quality(fromTarget:))
    }

    /// The fine-tuned encoder's pooled vectors `[N, H]` of the input's prompts, what the head reads: the ones the
    /// input carries from this encoder (``EstimatorInput/withFineTunedPooled(_:encoder:)``), or computed from its
    /// texts.
    public func pooled(for input: EstimatorInput) -> Matrix {
        input.fineTunedPooled(encoder: encoderIdentity) ?? inference.encode(input.texts)
    }

    /// Tells this transformer's fine-tuned encoder from another's: pooled vectors an input carries are read only
    /// by the transformer (and the fine-tuned views) they came from.
    var encoderIdentity: ObjectIdentifier { ObjectIdentifier(inference) }

    /// The router file's arrays: the encoder and head under their checkpoint names, and the target scaling.
    public func tensors() -> [String: EstimatorTensor] {
        var result = fineTuned.tensors().mapValues { EstimatorTensor(shape: $0.shape, values: $0.values) }
        result["targets.mean"] = EstimatorTensor(shape: [scaling.means.count], values: scaling.means.map { Float($0) })
        result["targets.scale"] = EstimatorTensor(
            shape: [scaling.scales.count], values: scaling.scales.map { Float($0) })
        result["targets.offset"] = EstimatorTensor(shape: [1], values: [Float(scaling.offset)])
        return result
    }
}

extension TransformerEstimator {
    /// The prompts (indices into `count` training prompts) a fit with `options` and `seed` holds out for early
    /// stopping: the model never trains on them.
    static func validationIndices(count: Int, options: TransformerOptions, seed: UInt64) -> [Int] {
        var fineTune = options.fineTune
        fineTune.seed = seed
        return TransformerFineTuner.validationSplit(count: count, options: fineTune).test
    }

    /// Fine-tunes the encoder the training set's features come from (``TrainingSet/encoder``, the MiniLM
    /// sentence encoder) on its prompts' texts: the scaling is fitted on the fitting part, early stopping keeps
    /// the weights with the best area of the validation prompts' deferral curve (``DeferralCurve/validationArea``).
    ///
    /// `steps` receives (optimizer steps done, steps in all); `progress` a line per validation measurement.
    static func fit(
        _ data: TrainingSet, options: TransformerOptions, seed: UInt64, progress: (@Sendable (String) -> Void)?,
        steps: (@Sendable (_ done: Int, _ total: Int) -> Void)?
    ) throws -> TransformerEstimator {
        guard let frozen = data.encoder as? SentenceEncoder else {
            throw EstimatorError(
                "the transformer estimator fine-tunes the MiniLM sentence encoder: fit it on a training set that "
                    + "carries that encoder")
        }
        guard data.input.hasTexts else {
            throw EstimatorError("the transformer estimator reads the prompts' texts: the training set has none")
        }
        var fineTune = options.fineTune
        fineTune.seed = seed
        fineTune.maxTokens = min(fineTune.maxTokens, frozen.maxSequenceLength)
        let m = data.outputCount
        // Datasets without any cost get zero costs: the validation curve then only measures quality at λ = 0.
        let costs = data.costs ?? [[Double]](repeating: [Double](repeating: 0, count: m), count: data.count)
        let split = TransformerFineTuner.validationSplit(count: data.count, options: fineTune)
        let scaling = TargetScaling(kind: options.target, quality: split.train.map { data.targets[$0] })
        var examples = FineTuneExample.examples(
            texts: data.input.texts, qualities: data.targets, scaling: scaling, tokenizer: frozen.tokenizer,
            maxTokens: fineTune.maxTokens)
        if fineTune.auxiliaryWeight != nil {
            guard !data.auxiliaryQualities.isEmpty else {
                throw EstimatorError(
                    "the transformer's multitask option learns other metrics of the same prompts beside the target: "
                        + "the training set has none (give them with --auxiliary)")
            }
            // Each metric standardized on its own, as the target is (relative: against the prompt's mean).
            for metric in data.auxiliaryQualities {
                let metricScaling = TargetScaling(kind: options.target, quality: split.train.map { metric[$0] })
                for i in examples.indices { examples[i].auxiliary += metricScaling.target(fromQuality: metric[i]) }
            }
        }
        let ruleCosts = split.train.map { costs[$0] }.columnMeans(width: m)
        let targets = data.targets
        let objective: TransformerFineTuner.Objective = { predicted, validation in
            DeferralCurve.validationArea(
                predicted: predicted.map(scaling.quality(fromTarget:)), quality: validation.map { targets[$0] },
                cost: validation.map { costs[$0] }, ruleCosts: ruleCosts)
        }
        var decision: DecisionLoss?
        if let decisionOptions = fineTune.decision {
            do {
                decision = try DecisionLoss(
                    options: decisionOptions, quality: data.targets, cost: costs, ruleCosts: ruleCosts,
                    scaling: scaling)
            } catch {
                throw EstimatorError("the transformer's decision loss: \(error.message)")
            }
        }
        let fitted: FineTunedModel
        do {
            let pretrained = try TrainableMiniLM<Float>(
                directory: frozen.directory, head: RegressionHeadConfig(outputCount: m), seed: seed)
            progress?("fine-tuning \(frozen.modelIdentifier) on \(data.count) prompts")
            fitted = try TransformerFineTuner.fit(
                pretrained: pretrained, examples: examples, options: fineTune, objective: objective,
                decision: decision,
                progress: { event in
                    switch event {
                    case .step(let index, let total, _, _, _):
                        steps?(index, total)
                    case .evaluation(let step, let epoch, let objective, let loss, let isBest):
                        progress?(
                            "validation at step \(step) (epoch \(String(format: "%.2f", epoch))): area "
                                + "\(String(format: "%.5f", objective)), MSE \(String(format: "%.4f", loss))"
                                + (isBest ? " (best)" : ""))
                    case .stopped(let step, let reason):
                        progress?("stopped at step \(step): \(reason)")
                    }
                })
        } catch {
            throw EstimatorError("fine-tuning failed: \(error.message)")
        }
        return try TransformerEstimator(
            fineTuned: fitted, scaling: scaling,
            options: TransformerOptions(target: options.target, fineTune: fineTune),
            frozen: frozen)
    }

    /// Restores from ``tensors()`` and the spec's options, which must carry the model's configuration, over the
    /// frozen `encoder` the router file was trained with.
    static func restore(
        _ tensors: [String: EstimatorTensor], options: TransformerOptions, encoder: (any PromptEncoder)?
    ) throws -> TransformerEstimator {
        guard let configuration = options.model else {
            throw EstimatorError("a stored transformer estimator lacks its model configuration")
        }
        if configuration.ridgeAlpha != nil || configuration.kernelTau != nil {
            throw EstimatorError(
                .formerLayout,
                "this transformer keeps its ridge/kernel partners inside the model, as router file format version 1 "
                    + "wrote them; partners are now ordinary ensemble members: retrain it with "
                    + "`catimage train --estimator \(retrainExample(configuration))`")
        }
        guard let frozen = encoder as? SentenceEncoder else {
            throw EstimatorError(
                "a transformer estimator runs on the MiniLM sentence encoder it was fine-tuned from: load it with "
                    + "that encoder")
        }
        let fineTuned: FineTunedModel
        do {
            fineTuned = try FineTunedModel(
                tensors: tensors.mapValues { SafetensorsTensor(shape: $0.shape, values: $0.values) },
                configuration: configuration.fineTuned, source: "router file")
        } catch {
            throw EstimatorError("transformer estimator: \(error.message)")
        }
        let m = configuration.head.outputCount
        guard let means = tensors["targets.mean"], let scales = tensors["targets.scale"],
            let offset = tensors["targets.offset"], means.values.count == m, scales.values.count == m,
            offset.values.count == 1
        else { throw EstimatorError("transformer estimator: target scaling tensors are missing or disagree in shape") }
        let scaling = TargetScaling(
            kind: configuration.target, means: means.values.map { Double($0) },
            scales: scales.values.map { Double($0) }, offset: Double(offset.values[0]))
        var options = options
        options.model = nil
        return try TransformerEstimator(fineTuned: fineTuned, scaling: scaling, options: options, frozen: frozen)
    }

    /// The `--estimator` value that retrains a format-1 transformer with the same partners.
    private static func retrainExample(_ configuration: TransformerOptions.ModelConfiguration) -> String {
        var parts = ["transformer:target=\(configuration.target.rawValue)"]
        if let alpha = configuration.ridgeAlpha { parts.append("ridge:alpha=\(EstimatorSpec.short(alpha))") }
        if let tau = configuration.kernelTau { parts.append("kernel:tau=\(EstimatorSpec.short(tau))") }
        return parts.joined(separator: "+")
    }
}

extension FineTuneExample {
    /// Examples of `texts` tokenized to at most `maxTokens` ids, each with its qualities standardized by
    /// `scaling`.
    public static func examples(
        texts: [String], qualities: [[Double]], scaling: TargetScaling, tokenizer: BertTokenizer, maxTokens: Int
    ) -> [FineTuneExample] {
        precondition(texts.count == qualities.count, "\(texts.count) texts for \(qualities.count) quality rows")
        return texts.indices.map { i in
            FineTuneExample(
                tokens: tokenizer.encode(texts[i], maxLength: maxTokens),
                target: scaling.target(fromQuality: qualities[i]))
        }
    }
}

extension DeferralCurve {
    /// The fine-tuning engine's early-stopping objective: the area of the validation prompts' deferral curve,
    /// with `ruleCosts` (the fitting part's mean cost per generator) in the rule, over the cost range of the
    /// generators' mean costs on those prompts, as the evaluation defines it.
    public static func validationArea(
        predicted: [[Double]], quality: [[Double]], cost: [[Double]], ruleCosts: [Double]
    ) -> Double {
        let curve = sweep(
            predicted: predicted, ruleCosts: Array(repeating: ruleCosts, count: predicted.count), quality: quality,
            cost: cost)
        let means = cost.columnMeans(width: ruleCosts.count)
        return area(of: curve, lowCost: means.min() ?? 0, highCost: means.max() ?? 0)
    }
}
