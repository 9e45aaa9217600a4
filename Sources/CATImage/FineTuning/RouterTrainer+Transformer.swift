import CATImageCore
import CATImageEncoder
import CATImageTraining
import Foundation

extension RouterTrainer {
    /// Fine-tunes the Transformer estimator (MiniLM + multi-output head, ``TransformerFineTuner``) on `dataset`'s
    /// prompts, starting from `encoder`'s weights, and builds the router around it.
    ///
    /// The λ calibration table comes from the fine-tuner's early-stopping prompts (a seeded
    /// `options.fineTune.validationFraction` of the data): neither the model nor its partners trained on them, so
    /// their predictions are held out like the other estimators' out-of-fold predictions; the one difference is
    /// that the kept checkpoint was chosen on them. Cross-fitting 5 folds instead would cost 5 more fine-tunes.
    ///
    /// `steps` receives (optimizer steps done, steps in all); `progress` a line per validation measurement.
    public static func trainTransformer(
        dataset: RoutingDataset, encoder: SentenceEncoder, options: TransformerOptions,
        lambda request: LambdaRequest = .fixed(0), seed: UInt64 = 0,
        progress: (@Sendable (String) -> Void)? = nil, steps: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) throws -> Router {
        let fitted = try fineTuneTransformer(
            dataset: dataset, encoder: encoder, options: options, seed: seed, progress: progress, steps: steps)
        let costs = dataset.costRows()
        let quality = dataset.qualityRows()
        let split = TransformerFineTuner.validationSplit(count: dataset.promptCount, options: fitted.options)
        let held = split.test
        // The rule's costs: the mean over all prompts, as for the other estimators.
        let ruleCost = costs.columnMeans(width: dataset.generatorCount)
        progress?("calibrating λ on \(held.count) held-out prompts (fitted on \(split.train.count))")
        let predicted = fitted.estimator.predict(fitted.encoder.embed(held.map { dataset.prompts[$0].text }))
        let curve = DeferralCurve.sweep(
            predicted: predicted, ruleCosts: [[Double]](repeating: ruleCost, count: held.count),
            quality: held.map { quality[$0] }, cost: held.map { costs[$0] })
        return try assemble(
            dataset: dataset, encoder: fitted.encoder, estimator: fitted.estimator, ruleCost: ruleCost,
            calibration: Calibration.table(from: curve), request: request)
    }

    /// Fine-tunes the Transformer estimator on `dataset`'s prompts, starting from `encoder`'s weights: the fitted
    /// estimator, the encoder whose rows it reads, and the fine-tuning options as run (seed set, max tokens cut to
    /// the encoder's limit). No λ calibration: ``trainTransformer(dataset:encoder:options:lambda:seed:progress:steps:)``
    /// adds it, and the evaluation does not need it.
    public static func fineTuneTransformer(
        dataset: RoutingDataset, encoder: SentenceEncoder, options: TransformerOptions, seed: UInt64 = 0,
        progress: (@Sendable (String) -> Void)? = nil, steps: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) throws -> (estimator: FineTunedFeatureEstimator, encoder: FineTunedPromptEncoder, options: FineTuneOptions) {
        var fineTune = options.fineTune
        fineTune.seed = seed
        fineTune.maxTokens = min(fineTune.maxTokens, encoder.maxSequenceLength)
        let examples = FineTuneExample.examples(
            of: dataset, tokenizer: encoder.tokenizer, maxTokens: fineTune.maxTokens)
        let fitted: FineTunedModel
        do {
            let pretrained = try TrainableMiniLM<Float>(
                directory: encoder.directory, head: RegressionHeadConfig(outputCount: dataset.generatorCount),
                seed: seed)
            progress?("fine-tuning \(encoder.modelIdentifier) on \(dataset.promptCount) prompts")
            fitted = try TransformerFineTuner.fit(
                pretrained: pretrained, examples: examples, options: fineTune,
                objective: DeferralCurve.validationArea,
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
            throw TrainingError(message: "fine-tuning failed: \(error.message)")
        }
        do {
            return (
                FineTunedFeatureEstimator(fineTuned: fitted, options: fineTune),
                try FineTunedPromptEncoder(frozen: encoder, fineTuned: fitted), fineTune
            )
        } catch {
            throw TrainingError(message: "the fine-tuned encoder cannot run: \(error)")
        }
    }
}
