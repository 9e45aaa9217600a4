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

            With --evaluate, runs the whole fine-tune instead through the library's evaluation (the 80/20 split \
            of --seed: 7,200 prompts, 800 for early stopping on the validation deferral-curve area, --epochs \
            epochs) of the transformer averaged with ridge (and the kernel) on frozen embeddings, and reports \
            the test figures of that ensemble and of every subset of its members (the transformer alone, each \
            partner alone, ...) from the one fit.

            Examples:
              swift build -c release && .build/release/catimage bench train
              catimage bench train --steps 20 --batch-size 32 --json
              catimage bench train --evaluate --epochs 4 --target relative --ridge-alpha 30 --kernel-tau 0.05
            """
    )

    @OptionGroup var modelFolder: ModelOptions

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
        let directory = modelFolder.resolvedDirectory
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
        let quality = dataset.qualityRows(fitting)
        let examples = FineTuneExample.examples(
            texts: fitting.map { dataset.prompts[$0].text }, qualities: quality,
            scaling: TargetScaling(kind: .relative, quality: quality), tokenizer: tokenizer, maxTokens: maxTokens)
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
            blasCoreType: BLASKernels.loaded,
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
            let qualityGain: Double?
        }

        let metric: String
        let seed: UInt64
        let trainPrompts: Int
        let testPrompts: Int
        let options: TransformerOptions
        let trainingMinutes: Double
        let rows: [Row]
        let loadAverageBefore: String
        let loadAverageAfter: String
    }

    /// The whole fine-tune on the 80/20 split of `seed`, through the library's evaluation: the transformer averaged
    /// with its partners on frozen embeddings, and every subset of those members, from one fit.
    func runEvaluation() throws {
        let directory = modelFolder.resolvedDirectory
        let folder = cems ?? (DatasetLocation.directory() as NSString).appendingPathComponent("cems")
        var loadReport = DatasetLoadReport()
        let dataset = try RoutingDataset.loadCEMS(directory: folder, metric: metric, report: &loadReport)
        let encoder = try PromptEmbedding.loadEncoder(modelDirectory: directory)
        let features = try FeatureOptions.embed(
            dataset.prompts.map(\.text), encoder: encoder, cacheDirectory: nil, quiet: json)
        let options = TransformerOptions(
            target: target,
            fineTune: FineTuneOptions(
                epochs: epochs, batchSize: batchSize, maxTokens: maxTokens, seed: seed, workers: workers,
                maxSteps: maxSteps))
        let partners: [EstimatorSpec] = [.ridge(alpha: ridgeAlpha)] + (kernelTau.map { [.kernel(tau: $0)] } ?? [])
        let spec = EstimatorSpec.ensemble([.transformer(options)] + partners)
        let loadBefore = BenchEncoderCommand.loadAverage()
        let start = ContinuousClock.now
        let quiet = json
        let evaluation = try RouterEvaluation.run(
            dataset: dataset, features: features, estimators: [spec],
            split: .trainTest(testFraction: 0.2, seeds: [seed]),
            encoder: encoder, memberSubsets: true, progress: { line in if !quiet { print("  \(line)") } })
        let minutes = (ContinuousClock.now - start) / .seconds(60)
        let rows = evaluation.routers.map {
            EvaluationReport.Row(
                estimator: $0.router.estimator, gapRecovered: $0.router.gapRecovered, area: $0.router.area,
                qualityGain: $0.router.qualityGain)
        }
        let part = evaluation.folds[0]
        let report = EvaluationReport(
            metric: metric, seed: seed, trainPrompts: part.trainCount, testPrompts: part.testCount, options: options,
            trainingMinutes: minutes, rows: rows, loadAverageBefore: loadBefore,
            loadAverageAfter: BenchEncoderCommand.loadAverage())
        if json {
            try JSONOutput.print(report)
            return
        }
        print(
            "\(Terminal.bold("Fine-tune")) CEMS \(metric), split seed \(seed): \(part.trainCount) training prompts "
                + "(\(Int((Double(part.trainCount) * options.fineTune.validationFraction).rounded())) for early "
                + "stopping), \(part.testCount) test prompts, \(Format.fixed(minutes, 1)) min")
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
