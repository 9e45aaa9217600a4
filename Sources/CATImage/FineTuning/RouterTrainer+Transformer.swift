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
        var fineTune = options.fineTune
        fineTune.seed = seed
        let m = dataset.generatorCount
        let examples = FineTuneExample.examples(
            of: dataset, tokenizer: encoder.tokenizer, maxTokens: min(fineTune.maxTokens, encoder.maxSequenceLength))
        fineTune.maxTokens = min(fineTune.maxTokens, encoder.maxSequenceLength)
        let pretrained: TrainableMiniLM<Float>
        let fitted: FineTunedModel
        do {
            pretrained = try TrainableMiniLM<Float>(
                directory: encoder.directory, head: RegressionHeadConfig(outputCount: m), seed: seed)
            progress?("fine-tuning \(encoder.modelIdentifier) on \(dataset.promptCount) prompts")
            fitted = try TransformerFineTuner.fit(
                pretrained: pretrained, examples: examples, options: fineTune,
                objective: TransformerFineTuner.routingArea,
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
        let estimator = FineTunedFeatureEstimator(fineTuned: fitted, options: fineTune)
        let routerEncoder: FineTunedPromptEncoder
        do { routerEncoder = try FineTunedPromptEncoder(frozen: encoder, fineTuned: fitted) } catch {
            throw TrainingError(message: "the fine-tuned encoder cannot run: \(error)")
        }

        let costs = dataset.costRows()
        let quality = dataset.qualityRows()
        let held = TransformerFineTuner.validationSplit(count: dataset.promptCount, options: fineTune).test
        let fitting = TransformerFineTuner.validationSplit(count: dataset.promptCount, options: fineTune).train
        // The rule's costs: the mean over all prompts, as for the other estimators.
        let ruleCost = (0..<m).map { g in costs.reduce(0) { $0 + $1[g] } / Double(max(1, costs.count)) }
        progress?("calibrating λ on \(held.count) held-out prompts (fitted on \(fitting.count))")
        let predicted = estimator.predict(routerEncoder.embed(held.map { dataset.prompts[$0].text }))
        let curve = DeferralCurve.sweep(
            predicted: predicted, ruleCosts: [[Double]](repeating: ruleCost, count: held.count),
            quality: held.map { quality[$0] }, cost: held.map { costs[$0] })
        return try assemble(
            dataset: dataset, encoder: routerEncoder, estimator: estimator, ruleCost: ruleCost,
            calibration: Calibration.table(from: curve), request: request)
    }
}
