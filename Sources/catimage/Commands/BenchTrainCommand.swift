import ArgumentParser
import CATImage
import CATImageCore
import CATImageEncoder
import CATImageTraining
import Foundation

/// `catimage bench train`: seconds per fine-tuning step of the Transformer quality estimator.
struct BenchTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Seconds per fine-tuning step (MiniLM + head, forward, backward, AdamW) on CEMS prompts.",
        discussion: """
            Draws length-bucketed batches (as training does) from the training part of the 80/20 split of seed 0 \
            of CEMS, runs one warm-up step, then times --steps optimizer steps of the full model (every layer \
            trained, dropout on, relative targets) split across --workers threads with one BLAS thread each. \
            Reports wall and CPU seconds per step and the minutes one epoch of 7,200 prompts takes at that speed \
            (the reference PyTorch run: about 1 s per step of 32 and 3.8 minutes per epoch on this machine). \
            With --epoch, times a real epoch over those 7,200 prompts instead of projecting. Build with \
            `-c release`; note the load average it prints, since other processes slow it down.

            With --evaluate, runs the whole fine-tune instead (7,200 prompts, 800 for early stopping on the \
            validation deferral-curve area, --epochs epochs) and reports the gap recovered on the 2,000 test \
            prompts of the transformer alone, averaged with ridge on frozen embeddings, and that ridge alone.

            Examples:
              swift build -c release && .build/release/catimage bench train
              catimage bench train --steps 20 --batch-size 32 --json
              catimage bench train --evaluate --epochs 4 --target relative --ridge-alpha 30 --save ft.safetensors
            """
    )

    @Option(help: "A sentence-transformers model folder (default: $CATIMAGE_MODEL_DIR or the `model fetch` cache).")
    var model: String?

    @Option(help: "The CEMS folder (default: $CATIMAGE_DATASETS/cems or ../shared/datasets/cems).")
    var cems: String?

    @Option(help: "Prompts per step.")
    var batchSize = 32

    @Option(help: "Timed steps (after one warm-up step).")
    var steps = 10

    @Option(help: "Worker threads a batch is split across.")
    var workers = 2

    @Option(help: "Longest input in tokens.")
    var maxTokens = 128

    @Flag(help: "Time one full epoch over 7,200 training prompts instead of --steps steps.")
    var epoch = false

    @Flag(help: "Fine-tune on the whole training part and report the test gap recovered instead of timing steps.")
    var evaluate = false

    @Option(help: "With --evaluate: passes over the training prompts.")
    var epochs = 4

    @Option(help: "With --evaluate: relative (quality minus the prompt's mean) or absolute targets.")
    var target: TargetKind = .relative

    @Option(help: "With --evaluate: ridge α of the ensemble partner on frozen embeddings.")
    var ridgeAlpha = 30.0

    @Option(help: "With --evaluate: also average with the similarity kernel of this width τ on frozen embeddings.")
    var kernelTau: Double?

    @Option(help: "With --evaluate: stop after this many steps (a shorter run).")
    var maxSteps: Int?

    @Option(help: "With --evaluate: the CEMS metric (clip or nima).")
    var metric = "clip"

    @Option(help: "With --evaluate: seed of the 80/20 split, validation split, order, dropout and head.")
    var seed: UInt64 = 0

    @Option(help: "With --evaluate: write the fine-tuned model (safetensors) here.")
    var save: String?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1, got \(steps)") }
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1, got \(workers)") }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        guard ridgeAlpha >= 0 else { throw ValidationError("--ridge-alpha must be ≥ 0, got \(ridgeAlpha)") }
        if let kernelTau, !(kernelTau > 0) { throw ValidationError("--kernel-tau must be > 0, got \(kernelTau)") }
        if let maxSteps, maxSteps < 1 { throw ValidationError("--max-steps must be at least 1, got \(maxSteps)") }
        guard maxTokens >= 2 && maxTokens <= 512 else {
            throw ValidationError("--max-tokens must be in 2...512, got \(maxTokens)")
        }
    }

    struct Report: Encodable {
        let model: String
        let batchSize: Int
        let workers: Int
        let steps: Int
        let meanPaddedTokens: Double
        let secondsPerStep: Double
        let medianSecondsPerStep: Double
        let cpuSecondsPerStep: Double
        let forwardBackwardSecondsPerStep: Double
        let updateSecondsPerStep: Double
        let minutesPerEpoch: Double
        let epochMeasured: Bool
        let epochPrompts: Int
        let referencePyTorchSecondsPerStep: Double
        let referencePyTorchMinutesPerEpoch: Double
        let blasCoreType: String
        let loadAverageBefore: String
        let loadAverageAfter: String
    }

    func run() throws {
        if evaluate {
            try runEvaluation()
            return
        }
        let directory = model ?? ModelStore.defaultModelDirectory
        let folder = cems ?? (DatasetLocation.directory() as NSString).appendingPathComponent("cems")
        var loadReport = DatasetLoadReport()
        let dataset = try RoutingDataset.loadCEMS(directory: folder, metric: "clip", report: &loadReport)
        let tokenizer = try BertTokenizer(directory: directory)
        let groups = dataset.prompts.map(\.group)
        let split = DataSplit.trainTest(count: dataset.promptCount, testFraction: 0.2, seed: 0, groups: groups)
        // The reference run's fitting part: 7,200 of the 8,000 training prompts (800 held out for early stopping).
        let fitting = DataSplit.trainTest(count: split.train.count, testFraction: 0.1, seed: 0).train.map {
            split.train[$0]
        }
        let examples = FineTuneExample.examples(
            of: dataset, indices: fitting, tokenizer: tokenizer, maxTokens: maxTokens)
        let pretrained = try TrainableMiniLM<Float>(
            directory: directory, head: RegressionHeadConfig(outputCount: dataset.generatorCount), seed: 0)
        let stepsPerEpoch = (examples.count + batchSize - 1) / batchSize
        let timedSteps = epoch ? stepsPerEpoch - 1 : steps
        let loadBefore = BenchEncoderCommand.loadAverage()
        if !json {
            print(
                "timing \(timedSteps) steps of \(batchSize) prompts (\(workers) workers) on \(examples.count) CEMS "
                    + "prompts, load average \(loadBefore)…")
        }
        let result = TrainingBenchmark.run(
            pretrained: pretrained, examples: examples, batchSize: batchSize, steps: timedSteps, workers: workers)
        let loadAfter = BenchEncoderCommand.loadAverage()
        let sorted = result.stepSeconds.sorted()
        let report = Report(
            model: directory, batchSize: batchSize, workers: workers, steps: timedSteps,
            meanPaddedTokens: result.meanPaddedTokens, secondsPerStep: result.secondsPerStep,
            medianSecondsPerStep: sorted[sorted.count / 2], cpuSecondsPerStep: result.cpuSecondsPerStep,
            forwardBackwardSecondsPerStep: result.gradientSeconds.reduce(0, +) / Double(timedSteps),
            updateSecondsPerStep: result.updateSeconds.reduce(0, +) / Double(timedSteps),
            minutesPerEpoch: epoch
                ? result.stepSeconds.reduce(0, +) * Double(stepsPerEpoch) / Double(timedSteps) / 60
                : result.minutesPerEpoch(prompts: examples.count),
            epochMeasured: epoch, epochPrompts: examples.count, referencePyTorchSecondsPerStep: 1.0,
            referencePyTorchMinutesPerEpoch: 3.8,
            blasCoreType: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "auto-detected",
            loadAverageBefore: loadBefore, loadAverageAfter: loadAfter)
        if json {
            try JSONOutput.print(report)
            return
        }
        print("\(Terminal.bold("Fine-tuning benchmark")) MiniLM + linear head, \(examples.count) CEMS prompts")
        print(
            "  batch \(batchSize), \(workers) workers × 1 BLAS thread, mean padded length "
                + "\(Format.fixed(report.meanPaddedTokens, 1)) tokens, OpenBLAS kernels: \(report.blasCoreType)")
        var table = TextTable(["measure", "value", "PyTorch reference"])
        table.add([
            "seconds per step (mean)", Format.fixed(report.secondsPerStep, 3),
            Format.fixed(report.referencePyTorchSecondsPerStep, 1),
        ])
        table.add(["seconds per step (median)", Format.fixed(report.medianSecondsPerStep, 3), ""])
        table.add(["CPU seconds per step (all threads)", Format.fixed(report.cpuSecondsPerStep, 3), ""])
        table.add(["forward + backward per step", Format.fixed(report.forwardBackwardSecondsPerStep, 3), ""])
        table.add(["gradient sum, clipping, AdamW", Format.fixed(report.updateSecondsPerStep, 3), ""])
        table.add([
            "minutes per epoch of \(examples.count) (\(epoch ? "measured" : "projected"))",
            Format.fixed(report.minutesPerEpoch, 2), Format.fixed(report.referencePyTorchMinutesPerEpoch, 1),
        ])
        print(table.render())
        print("  load average before: \(loadBefore), after: \(loadAfter)")
    }
}

extension TargetKind: ExpressibleByArgument {}

extension BenchTrainCommand {
    struct EvaluationReport: Encodable {
        struct Row: Encodable {
            let estimator: String
            let gapRecovered: Double?
            let area: Double?
            let qualityGain: Double
        }

        let metric: String
        let seed: UInt64
        let trainPrompts: Int
        let testPrompts: Int
        let options: FineTuneOptions
        let trainingMinutes: Double
        let steps: Int
        let bestValidationArea: Double
        let rows: [Row]
        let loadAverageBefore: String
        let loadAverageAfter: String
    }

    /// The whole fine-tune on the 80/20 split, with test figures from the evaluation module.
    func runEvaluation() throws {
        let directory = model ?? ModelStore.defaultModelDirectory
        let folder = cems ?? (DatasetLocation.directory() as NSString).appendingPathComponent("cems")
        var loadReport = DatasetLoadReport()
        let dataset = try RoutingDataset.loadCEMS(directory: folder, metric: metric, report: &loadReport)
        let tokenizer = try BertTokenizer(directory: directory)
        let split = DataSplit.trainTest(
            count: dataset.promptCount, testFraction: 0.2, seed: seed, groups: dataset.prompts.map(\.group))
        var options = FineTuneOptions(
            target: target, epochs: epochs, batchSize: batchSize, maxTokens: maxTokens, seed: seed, workers: workers,
            ensembleRidgeAlpha: ridgeAlpha, ensembleKernelTau: kernelTau, maxSteps: maxSteps)
        options.seed = seed
        let train = FineTuneExample.examples(
            of: dataset, indices: split.train, tokenizer: tokenizer, maxTokens: maxTokens)
        let test = FineTuneExample.examples(
            of: dataset, indices: split.test, tokenizer: tokenizer, maxTokens: maxTokens)
        let pretrained = try TrainableMiniLM<Float>(
            directory: directory, head: RegressionHeadConfig(outputCount: dataset.generatorCount), seed: seed)
        let loadBefore = BenchEncoderCommand.loadAverage()
        let start = ContinuousClock.now
        var steps = 0
        var bestArea = -Double.infinity
        let quiet = json
        let fitted = try TransformerFineTuner.fit(
            pretrained: pretrained, examples: train, options: options, objective: DeferralCurve.validationArea,
            progress: { event in
                switch event {
                case .step(let index, let total, let loss, _, let seconds):
                    steps = index
                    if !quiet && (index % 25 == 0 || index == total) {
                        print("  step \(index)/\(total) loss \(Format.fixed(loss, 4)) (\(Format.fixed(seconds, 2)) s)")
                    }
                case .evaluation(let step, let epoch, let objective, let validationLoss, let isBest):
                    if isBest { bestArea = objective }
                    if !quiet {
                        print(
                            "  validation at step \(step) (epoch \(Format.fixed(epoch, 2))): area "
                                + "\(Format.fixed(objective, 5)), MSE \(Format.fixed(validationLoss, 4))"
                                + (isBest ? " (best)" : ""))
                    }
                case .stopped(let step, let reason):
                    if !quiet { print("  stopped at step \(step): \(reason)") }
                }
            })
        let minutes = (ContinuousClock.now - start) / .seconds(60)
        if let save { try fitted.write(to: save) }
        let tokens = test.map(\.tokens)
        let frozen = FineTunedModel.embed(pretrained, tokens, workers: workers)
        let quality = test.map(\.quality)
        let cost = test.map(\.cost)
        let m = dataset.generatorCount
        let ruleCost = train.map(\.cost).columnMeans(width: m)
        let reference = ReferenceFigures(generators: dataset.generatorNames, quality: quality, cost: cost)
        func row(_ name: String, _ predicted: [[Double]]) -> EvaluationReport.Row {
            let curve = DeferralCurve.sweep(
                predicted: predicted, ruleCosts: Array(repeating: ruleCost, count: predicted.count), quality: quality,
                cost: cost)
            let figures = RouterFigures(
                estimator: name, curve: curve, qualityAtZero: curve[0].quality, reference: reference,
                qualityOnly: !dataset.hasCost)
            return .init(
                estimator: name, gapRecovered: figures.gapRecovered, area: figures.area,
                qualityGain: figures.qualityGain)
        }
        let name = "transformer (\(target.rawValue))"
        let alone = fitted.predictTargets(tokens, workers: workers)
        func qualities(_ z: [[Double]]) -> [[Double]] { z.map(fitted.scaler.quality(fromTarget:)) }
        // The fine-tuned prediction averaged with the given partners on the frozen embeddings.
        func averaged(ridge: FrozenRidge?, kernel: FrozenKernel?) -> [[Double]] {
            let model = FineTunedModel(
                model: fitted.model, scaler: fitted.scaler, maxTokens: maxTokens, ridge: ridge, kernel: kernel)
            return qualities(model.ensembleTargets(alone, frozenEmbeddings: frozen))
        }
        var rows = [row(name, qualities(alone))]
        if let ridge = fitted.ridge {
            rows.append(row("\(name) + ridge(\(ridgeAlpha))", averaged(ridge: ridge, kernel: nil)))
            rows.append(row("ridge(\(ridgeAlpha)) alone", qualities(ridge.predict(features: frozen))))
        }
        if let kernel = fitted.kernel {
            rows.append(row("\(name) + kernel(\(kernel.tau))", averaged(ridge: nil, kernel: kernel)))
            rows.append(row("kernel(\(kernel.tau)) alone", qualities(kernel.predict(features: frozen))))
        }
        if let ridge = fitted.ridge, let kernel = fitted.kernel {
            rows.append(row("\(name) + ridge + kernel", averaged(ridge: ridge, kernel: kernel)))
        }
        let report = EvaluationReport(
            metric: metric, seed: seed, trainPrompts: train.count, testPrompts: test.count, options: options,
            trainingMinutes: minutes, steps: steps, bestValidationArea: bestArea, rows: rows,
            loadAverageBefore: loadBefore, loadAverageAfter: BenchEncoderCommand.loadAverage())
        if json {
            try JSONOutput.print(report)
            return
        }
        print(
            "\(Terminal.bold("Fine-tune")) CEMS \(metric), split seed \(seed): \(train.count) training prompts "
                + "(\(Int((Double(train.count) * options.validationFraction).rounded())) for early stopping), "
                + "\(test.count) test prompts, \(steps) steps in \(Format.fixed(minutes, 1)) min")
        var table = TextTable(["estimator", "gap recovered", "area", "quality gain"])
        for r in rows {
            table.add([
                r.estimator, Format.fixed(r.gapRecovered, 3), Format.fixed(r.area, 4), Format.fixed(r.qualityGain, 4),
            ])
        }
        print(table.render())
        print("  load average before: \(report.loadAverageBefore), after: \(report.loadAverageAfter)")
    }
}
