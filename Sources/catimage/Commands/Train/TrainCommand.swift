import ArgumentParser
import CATImage
import CATImageCore
import Foundation

/// `catimage train`: fit a router on a dataset and write the router file.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a router on a dataset and write it to one router file.",
        discussion: """
            The file (safetensors) holds the encoder id and weights digest, the generators and their mean \
            costs, the λ policy with a calibration table (λ → mean cost, mean quality on out-of-fold \
            predictions) and the estimator's arrays.

            Examples:
              catimage train --cems ../shared/datasets/cems --metric clip \\
                --estimator kernel --tau 0.05 --budget 0.4 -o router.catimage
              catimage train --cems ../shared/datasets/cems --estimator auto \\
                --lambda 0 -o router.catimage
              catimage train --cems ../shared/datasets/cems --metric clip \\
                --estimator transformer:kernel=0.05 --budget 0.3 -o router.catimage

            `--estimator transformer` fine-tunes MiniLM end to end with one output per generator (about 20 \
            minutes for 4 epochs over all of CEMS on two cores); its λ is calibrated on the 10% of prompts held \
            out for early stopping. Options: transformer:target=relative|absolute:epochs=4:ridge=30:kernel=0.05 \
            (see `catimage evaluate --help` for every estimator's keys).
            """
    )

    @OptionGroup var data: DatasetOptions
    @OptionGroup var estimators: EstimatorOptions
    @OptionGroup var targetOptions: TargetOptions

    @OptionGroup var modelFolder: ModelOptions

    @Option(help: "Embedding cache folder (default: ~/.cache/catimage/embeddings).")
    var cacheDir: String?

    @Option(name: .shortAndLong, help: "Where to write the router file.")
    var output: String

    @Option(help: "Default λ of the rule (quality − λ·cost).")
    var lambda: Double?

    @Option(help: "Calibrate the default λ so the mean cost per prompt meets this budget.")
    var budget: Double?

    @Option(help: "Calibrate the default λ to the cheapest routing that reaches this mean quality.")
    var targetQuality: Double?

    @Option(help: "Folds of the out-of-fold calibration table (0 for none).")
    var calibrationFolds = 5

    @Option(help: "Seed of every random choice.")
    var seed: UInt64 = 0

    @Flag(help: "Print a JSON summary instead of text.")
    var json = false

    func validate() throws {
        let policies = [lambda != nil, budget != nil, targetQuality != nil].filter { $0 }.count
        if policies > 1 { throw ValidationError("give at most one of --lambda, --budget, --target-quality") }
        if let lambda, !(lambda >= 0) { throw ValidationError("--lambda must be ≥ 0, got \(lambda)") }
        if (budget != nil || targetQuality != nil) && calibrationFolds < 2 {
            throw ValidationError("--budget and --target-quality need --calibration-folds ≥ 2")
        }
        let specs = try estimators.specs()
        if specs.count != 1 { throw ValidationError("train takes one estimator, got \(specs.count)") }
        try targetOptions.check(specs, data: data)
    }

    /// What `--json` prints.
    struct Summary: Encodable {
        var output: String
        var estimator: String
        var generators: [Generator]
        var lambdaPolicy: LambdaPolicy
        var defaultLambda: Double
        var calibrationRows: Int
        var prompts: Int
        var seconds: Double
    }

    func run() throws {
        let spec = try estimators.specs()[0]
        let dataset = try targetOptions.load(data)
        let encoder = try PromptEmbedding.loadEncoder(modelDirectory: modelFolder.directory)
        // Cached frozen embeddings and layer means, when the estimator reads them (a lone transformer reads only
        // the texts).
        try encoder.check(canGive: spec.reads)
        let encoding =
            spec.reads.runsEncoder
            ? try FeatureOptions.embed(
                dataset.prompts.map(\.text), layerMeans: spec.reads.layers, encoder: encoder, cacheDirectory: cacheDir)
            : nil
        let request: RouterTrainer.LambdaRequest =
            budget.map { .budget($0) } ?? targetQuality.map { .targetQuality($0) } ?? .fixed(lambda ?? 0)
        let started = Date()
        let router: Router
        let bar = ProgressBar(label: "training", unit: "steps")
        do {
            router = try RouterTrainer.train(
                dataset: dataset, features: encoding?.embeddings, layerMeans: encoding?.layerMeans ?? [:],
                encoder: encoder, estimator: spec, lambda: request,
                calibrationFolds: calibrationFolds, seed: seed, progress: { bar.status($0) },
                steps: { bar.update($0, $1) })
            bar.finish()
        } catch let error as RouterTrainer.TrainingError {
            throw CommandFailure(Self.flagMessage(error))
        }
        let seconds = Date().timeIntervalSince(started)
        try router.write(to: output)
        if json {
            try JSONOutput.print(
                Summary(
                    output: output, estimator: router.estimator.spec.description, generators: router.generators,
                    lambdaPolicy: router.lambdaPolicy, defaultLambda: router.defaultLambda,
                    calibrationRows: router.calibration.count, prompts: dataset.promptCount, seconds: seconds))
            return
        }
        print("\(Terminal.bold("Router")) written to \(output)")
        print("  estimator: \(router.estimator.spec) (fitted with calibration in \(Format.fixed(seconds, 1)) s)")
        print("  encoder: \(router.encoderIdentifier) (\(router.encoderDigest.prefix(16)))")
        print("  default λ: \(router.defaultLambda) (\(policyText(router.lambdaPolicy)))")
        var table = TextTable(["generator", "cost used by the rule"])
        for g in router.generators { table.add([g.name, Format.fixed(g.cost, 4)]) }
        print(table.render())
        if let first = router.calibration.first, let last = router.calibration.last {
            print(
                "calibration (held-out predictions): λ=0 → cost \(Format.fixed(first.cost)) quality \(Format.fixed(first.quality)); "
                    + "λ=\(Format.fixed(last.lambda, 4)) → cost \(Format.fixed(last.cost)) quality \(Format.fixed(last.quality))"
            )
        }
    }

    /// The library's error in this command's terms: which flag asked for what failed.
    static func flagMessage(_ error: RouterTrainer.TrainingError) -> String {
        switch error.code {
        case .invalidLambda: return "--lambda: \(error.message)"
        case .budgetWithoutCosts: return "--budget needs a dataset with costs"
        case .budgetTooLow: return "--budget: \(error.message)"
        case .targetQualityTooHigh: return "--target-quality: \(error.message)"
        case .mismatchedFeatures: return error.message
        }
    }

    func policyText(_ policy: LambdaPolicy) -> String {
        switch policy {
        case .fixed: return "fixed"
        case .budget(let budget, _): return "calibrated to mean cost ≤ \(budget)"
        case .targetQuality(let target, _): return "calibrated to mean quality ≥ \(target)"
        }
    }
}
