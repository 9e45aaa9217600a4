import ArgumentParser
import CATImage
import CATImageCore
import Foundation

/// `catimage bench route`: the time one routing decision takes, stage by stage, without HTTP.
struct BenchRouteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "Time single-prompt routing decisions of a router file: embedding, estimator, whole decision.",
        discussion: """
            Decides --prompts CEMS prompts one at a time on the calling thread (after a warm-up) and reports \
            the median, p90 and p99 of each stage: the router's encoder (MiniLM, or the fine-tuned encoder of a \
            transformer router), the estimator, and the whole decision. It is the work `/v1/route` does per \
            request, without HTTP, queueing or the decision log. Build with `-c release`.

            Examples:
              .build/release/catimage bench route --router out/router.catimage
              catimage bench route --router router.catimage --prompts 500 --json
            """
    )

    @Option(help: "The router file to time.")
    var router: String

    @OptionGroup var modelFolder: ModelOptions

    @Option(
        help: "The CEMS folder the prompts come from (default: $CATIMAGE_DATASETS/cems or ../shared/datasets/cems).")
    var cems: String?

    @Option(help: "How many prompts (evenly spaced over CEMS).")
    var prompts = 1000

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard prompts >= 1 else { throw ValidationError("--prompts must be at least 1, got \(prompts)") }
    }

    struct Stage: Encodable {
        let name: String
        let medianMilliseconds: Double
        let p90Milliseconds: Double
        let p99Milliseconds: Double
        let meanMilliseconds: Double
    }

    struct Report: Encodable {
        let router: String
        let estimator: String
        let trainingPrompts: Int?
        let prompts: Int
        let stages: [Stage]
        let decisionsPerSecond: Double
        let loadAverageBefore: String
        let loadAverageAfter: String
    }

    func run() throws {
        let loaded = try Router.load(contentsOf: router, modelDirectory: modelFolder.directory)
        let folder = cems ?? (DatasetLocation.directory() as NSString).appendingPathComponent("cems")
        var loadReport = DatasetLoadReport()
        let dataset = try RoutingDataset.loadCEMS(directory: folder, metric: "clip", report: &loadReport)
        // Evenly spaced over the dataset: CEMS groups its sources, whose prompt lengths differ.
        let count = min(prompts, dataset.promptCount)
        let texts = (0..<count).map { dataset.prompts[$0 * dataset.promptCount / count].text }
        for text in texts.prefix(20) { _ = loaded.decide(prompt: text) }  // warm-up: page in weights, workspaces

        let loadBefore = BenchEncoderCommand.loadAverage()
        var embed: [Double] = []
        var estimate: [Double] = []
        var whole: [Double] = []
        // The frozen encoder runs only when the estimator reads its features or layers (a transformer runs its own).
        let reads = loaded.estimator.spec.reads
        let runsEncoder = reads.runsEncoder
        for text in texts {
            var input = EstimatorInput(texts: [text], features: nil)
            if runsEncoder {
                embed.append(BenchEncoderCommand.time { input = loaded.encoder.input(for: [text], reads: reads) })
            }
            estimate.append(BenchEncoderCommand.time { _ = loaded.estimator.predict(input) })
        }
        let started = DispatchTime.now().uptimeNanoseconds
        for text in texts { whole.append(BenchEncoderCommand.time { _ = loaded.decide(prompt: text) }) }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let loadAfter = BenchEncoderCommand.loadAverage()

        func stage(_ name: String, _ seconds: [Double]) -> Stage {
            let sorted = seconds.sorted()
            func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int(q * Double(sorted.count)))] * 1000 }
            return Stage(
                name: name, medianMilliseconds: at(0.5), p90Milliseconds: at(0.9), p99Milliseconds: at(0.99),
                meanMilliseconds: sorted.reduce(0, +) / Double(sorted.count) * 1000)
        }
        let tensors = loaded.estimator.tensors()
        let report = Report(
            router: router, estimator: loaded.estimator.spec.description,
            trainingPrompts: (tensors["features"] ?? tensors["member0.features"])?.shape.first,
            prompts: texts.count,
            stages: (runsEncoder ? [stage("encoder (\(loaded.encoder.modelIdentifier))", embed)] : []) + [
                stage("estimator", estimate), stage("whole decision", whole),
            ],
            decisionsPerSecond: Double(texts.count) / elapsed, loadAverageBefore: loadBefore,
            loadAverageAfter: loadAfter)
        if json {
            try JSONOutput.print(report)
            return
        }
        print("\(Terminal.bold("Routing decision benchmark")) \(router): \(report.estimator)")
        print("  \(texts.count) CEMS prompts, one at a time on one thread (no HTTP, no log)")
        var table = TextTable(["stage", "median ms", "p90 ms", "p99 ms", "mean ms"])
        for s in report.stages {
            table.add([
                s.name, Format.fixed(s.medianMilliseconds, 3), Format.fixed(s.p90Milliseconds, 3),
                Format.fixed(s.p99Milliseconds, 3), Format.fixed(s.meanMilliseconds, 3),
            ])
        }
        print(table.render())
        print("  \(Format.fixed(report.decisionsPerSecond, 1)) decisions/s on one thread")
        print("  load average before: \(loadBefore), after: \(loadAfter)")
    }
}
