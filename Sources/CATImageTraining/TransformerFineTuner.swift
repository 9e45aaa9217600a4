import CATImageCore

/// One training prompt: its token ids and the standardized targets `[M]` the head learns to predict.
public struct FineTuneExample: Sendable, Equatable {
    /// `[CLS] … [SEP]` ids, at most the run's max tokens.
    public var tokens: [Int32]
    /// What the head should output for this prompt `[M]` (the caller's scaling of its qualities).
    public var target: [Double]
    /// What extra outputs should learn beside the targets `[A]` (other metrics of the prompt, scaled): trained with
    /// ``FineTuneOptions/auxiliaryWeight`` and dropped from the fitted model. Empty when training on targets alone.
    public var auxiliary: [Double]

    /// An example.
    public init(tokens: [Int32], target: [Double], auxiliary: [Double] = []) {
        precondition(!tokens.isEmpty && !target.isEmpty, "an example needs tokens and M targets")
        self.tokens = tokens
        self.target = target
        self.auxiliary = auxiliary
    }
}

/// What happened during a run, for progress output.
public enum FineTuneEvent: Sendable {
    /// One optimizer step finished.
    case step(index: Int, total: Int, loss: Double, gradientNorm: Double, seconds: Double)
    /// The validation objective was measured (`isBest`: the weights were kept).
    case evaluation(step: Int, epoch: Double, objective: Double, validationLoss: Double, isBest: Bool)
    /// Early stopping ended the run.
    case stopped(step: Int, reason: String)
}

/// Fine-tunes MiniLM with a multi-output head on routing data; the paper's Transformer quality estimator.
public enum TransformerFineTuner {
    /// Scores the model's predictions `[V][M]` (standardized, as the head outputs them) on the validation
    /// examples, given by their indices into the run's examples; larger is better. The caller passes it in as a
    /// value (the router module scores the area of the validation deferral curve), so the engine knows nothing
    /// of qualities, costs or routing.
    public typealias Objective = @Sendable (_ predicted: [[Double]], _ validation: [Int]) -> Double

    /// Splits `examples` into fitting and validation parts (seeded, ``validationSplit(count:options:)``), trains
    /// on the targets of the fitting part, and keeps the weights with the best validation objective.
    ///
    /// - Parameters:
    ///   - pretrained: the encoder to start from (its head is replaced by a fresh one with `M` outputs).
    ///   - objective: the validation score early stopping maximises.
    ///   - decision: the routing decision's loss over `examples` (rows in their order), added to the squared error
    ///     when ``FineTuneOptions/decision`` is set (it must be exactly then); its trade-offs are calibrated on the
    ///     validation prompts' predictions at each validation measurement.
    public static func fit(
        pretrained: TrainableMiniLM<Float>, examples: [FineTuneExample], options: FineTuneOptions,
        objective score: Objective, decision: DecisionLoss? = nil, progress: (FineTuneEvent) -> Void = { _ in }
    ) throws(FineTuneError) -> FineTunedModel {
        try options.validate()
        guard decision?.options == options.decision else {
            throw FineTuneError(
                options.decision == nil
                    ? "a decision loss was given but the options do not ask for one"
                    : decision == nil
                        ? "the decision option needs each prompt's qualities and costs (a decision loss)"
                        : "the decision loss's options disagree with the fine-tune's")
        }
        guard decision.map({ $0.quality.count == examples.count }) ?? true else {
            throw FineTuneError("the decision loss has \(decision!.quality.count) rows for \(examples.count) prompts")
        }
        guard examples.count >= 4 else {
            throw FineTuneError("need at least 4 training prompts, got \(examples.count)")
        }
        let m = examples[0].target.count
        guard m >= 1, examples.allSatisfy({ $0.target.count == m }) else {
            throw FineTuneError("every prompt needs a target for each of the \(m) outputs")
        }
        let a = examples[0].auxiliary.count
        guard examples.allSatisfy({ $0.auxiliary.count == a }) else {
            throw FineTuneError("every prompt needs the same number of auxiliary targets (\(a) for the first)")
        }
        guard (a > 0) == (options.auxiliaryWeight != nil) else {
            throw FineTuneError(
                a > 0
                    ? "the examples carry auxiliary targets but the options give them no weight"
                    : "the auxiliary weight needs examples with auxiliary targets (other metrics of the prompts)")
        }
        guard examples.allSatisfy({ $0.tokens.count <= options.maxTokens }) else {
            throw FineTuneError("a prompt has more than \(options.maxTokens) tokens; truncate when tokenizing")
        }
        let split = validationSplit(count: examples.count, options: options)
        let fitting = split.train.map { examples[$0] }
        let validation = split.test.map { examples[$0] }
        guard !validation.isEmpty, fitting.count >= 2 else {
            throw FineTuneError("too few prompts to hold out validation")
        }

        var encoder = pretrained.layout.encoder
        if let dropout = options.dropout {
            encoder.hiddenDropout = dropout
            encoder.attentionDropout = dropout
        }
        let head = RegressionHeadConfig(
            outputCount: m + a, hiddenSize: options.headHiddenSize, normalizesEmbedding: options.normalizesEmbedding)
        let layout = ParameterLayout(encoder: encoder, head: head)
        var model = TrainableMiniLM<Float>(layout: layout, seed: options.seed)
        for entry in layout.entries where !entry.isHead {
            let source = pretrained.layout[entry.name]
            for k in 0..<entry.count { model.values[entry.offset + k] = pretrained.values[source.offset + k] }
        }

        let stepsPerEpoch = (fitting.count + options.batchSize - 1) / options.batchSize
        let totalSteps = min(options.maxSteps ?? Int.max, stepsPerEpoch * options.epochs)
        let session = TrainingSession(
            model: model, tokens: fitting.map(\.tokens), targets: fitting.map { $0.target + $0.auxiliary },
            settings: options.optimizer, totalSteps: totalSteps, seed: options.seed, workers: options.workers,
            clipNorm: options.gradientClipNorm, decision: decision?.restricted(to: split.train),
            outputWeights: options.auxiliaryWeight.map { w in
                // The primary targets' mean squared error plus w times the auxiliary targets'.
                [Double](repeating: 1, count: m) + [Double](repeating: w * Double(m) / Double(a), count: a)
            })
        var validationDecision = decision?.restricted(to: split.test)
        let evaluationSteps = Set(
            (1...options.epochs).flatMap { epoch in
                (1...options.evaluationsPerEpoch).map { k in
                    (epoch - 1) * stepsPerEpoch + k * stepsPerEpoch / options.evaluationsPerEpoch
                }
            } + [totalSteps])

        func evaluate(_ values: TrainableMiniLM<Float>) -> (objective: Double, loss: Double) {
            let fitted = FineTunedModel(model: values, maxTokens: options.maxTokens).keepingOutputs(m)
            let z = fitted.predictTargets(validation.map(\.tokens), workers: options.workers)
            if validationDecision != nil {
                validationDecision!.calibrate(predictedTargets: z)
                session.decision?.lambdas = validationDecision!.lambdas
            }
            var loss = 0.0
            for (row, example) in zip(z, validation) {
                let t = example.target
                for j in 0..<m { loss += (row[j] - t[j]) * (row[j] - t[j]) / Double(m * validation.count) }
            }
            return (score(z, split.test), loss)
        }

        var order = SeededGenerator(seed: options.seed &+ 0x0DE5)
        let initial = evaluate(session.model)
        progress(
            .evaluation(step: 0, epoch: 0, objective: initial.objective, validationLoss: initial.loss, isBest: true))
        var best = (objective: initial.objective, values: session.model.values)
        var sinceBest = 0
        var step = 0
        training: for _ in 0..<options.epochs {
            for batch in lengthBucketedBatches(
                tokenCounts: fitting.map(\.tokens.count), batchSize: options.batchSize, generator: &order)
            {
                guard step < totalSteps else { break training }
                let start = ContinuousClock.now
                let result = session.step(batch)
                step += 1
                let seconds = (ContinuousClock.now - start) / .seconds(1)
                progress(
                    .step(
                        index: step, total: totalSteps, loss: result.loss, gradientNorm: result.gradientNorm,
                        seconds: seconds))
                if evaluationSteps.contains(step) {
                    let measured = evaluate(session.model)
                    let isBest = measured.objective > best.objective
                    if isBest {
                        best = (measured.objective, session.model.values)
                        sinceBest = 0
                    } else {
                        sinceBest += 1
                    }
                    progress(
                        .evaluation(
                            step: step, epoch: Double(step) / Double(stepsPerEpoch), objective: measured.objective,
                            validationLoss: measured.loss, isBest: isBest))
                    if let patience = options.patience, sinceBest >= patience {
                        progress(.stopped(step: step, reason: "no improvement in \(patience) evaluations"))
                        break training
                    }
                }
            }
        }
        session.setValues(best.values)

        return FineTunedModel(model: session.model, maxTokens: options.maxTokens).keepingOutputs(m)
    }

    /// The fitting and validation (early-stopping) indices ``fit(pretrained:examples:options:objective:progress:)``
    /// uses for `count` examples: the model never trains on the validation part, so its predictions there can
    /// calibrate a router's λ.
    public static func validationSplit(count: Int, options: FineTuneOptions) -> DataSplit.TrainTest {
        DataSplit.trainTest(count: count, testFraction: options.validationFraction, seed: options.seed)
    }

    /// Mini-batches of similar-length prompts: a seeded shuffle, chunks of 50 batches sorted by length and cut
    /// into batches, then the batches shuffled, so padding stays small while the order stays random.
    public static func lengthBucketedBatches(
        tokenCounts: [Int], batchSize: Int, generator: inout SeededGenerator
    ) -> [[Int]] {
        var indices = Array(tokenCounts.indices)
        generator.shuffle(&indices)
        var batches: [[Int]] = []
        let chunk = batchSize * 50
        var start = 0
        while start < indices.count {
            let part = indices[start..<min(start + chunk, indices.count)].sorted {
                tokenCounts[$0] != tokenCounts[$1] ? tokenCounts[$0] < tokenCounts[$1] : $0 < $1
            }
            var k = 0
            while k < part.count {
                batches.append(Array(part[k..<min(k + batchSize, part.count)]))
                k += batchSize
            }
            start += chunk
        }
        generator.shuffle(&batches)
        return batches
    }
}
