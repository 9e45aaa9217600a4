import ArgumentParser
import CATImage
import CATImageCore
import CATImageEncoder
import CATImageGateway
import Foundation
import Logging

/// `catimage bench ope`: off-policy evaluation checked against the truth on a replay of CEMS through a gateway.
struct BenchOpeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ope",
        abstract: "Replay CEMS through a gateway with exploration and check off-policy estimates against the truth.",
        discussion: """
            Trains a deployed router and a candidate router on --train CEMS prompts, serves --prompts other \
            prompts through an in-process gateway (real HTTP, exploration rate --epsilon) over a stand-in \
            generation server, scores each served image with its true CEMS score (--feedback judge: the driver \
            posts it to /v1/feedback; --feedback scorer: the gateway's scoring: section sends every image to a \
            stand-in scorer that reads the generator from the PNG and looks the score up), then estimates the candidate's \
            mean quality from the decision log (IPS, SNIPS, DR) and compares it with its true mean quality on the \
            same prompts, computed from the dataset.

            Examples:
              catimage bench ope --prompts 2000 --epsilon 0.1 --feedback scorer
              catimage bench ope --prompts 1000 --keep ope-run   # then: evaluate --log ope-run/decisions.sqlite ...
              catimage bench ope --deployed knn:k=25:weighted --deployed-budget 0.4 \\
                --candidate ridge:alpha=10 --candidate-lambda 0 --confidence 0.99 --json
            """
    )

    @Option(help: "The CEMS folder (default: $CATIMAGE_DATASETS/cems or ../shared/datasets/cems).")
    var cems: String?

    @OptionGroup var modelFolder: ModelOptions

    @Option(help: "CEMS metric: clip or nima.")
    var metric = "clip"

    @Option(help: "Training prompts of both routers.")
    var train = 2000

    @Option(help: "Prompts replayed through the gateway.")
    var prompts = 2000

    @Option(help: "Exploration rate of the gateway.")
    var epsilon = 0.1

    @Option(help: "The deployed router's estimator.")
    var deployed = "knn:k=25:weighted"

    @Option(help: "The deployed router's mean-cost budget (seconds per image).")
    var deployedBudget = 0.4

    @Option(help: "The candidate router's estimator.")
    var candidate = "ridge:alpha=10"

    @Option(help: "The candidate router's λ.")
    var candidateLambda = 0.0

    @Option(help: "Two-sided confidence of the intervals.")
    var confidence = 0.95

    @Option(help: "Seed of the split and the reward model's folds.")
    var seed: UInt64 = 13

    @Option(help: "Requests in flight at once.")
    var concurrency = 8

    @Option(
        help: "Who scores the served images: judge (the driver posts to /v1/feedback) or scorer (scoring: section).")
    var feedback: OffPolicySimulation.FeedbackSource = .judge

    @Option(help: "Keep the decision log and both router files in this folder (default: a temporary one, removed).")
    var keep: String?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard train >= 50, prompts >= 50 else { throw ValidationError("--train and --prompts must be at least 50") }
        guard epsilon > 0 && epsilon <= 1 else { throw ValidationError("--epsilon must be in (0, 1], got \(epsilon)") }
        guard confidence > 0 && confidence < 1 else { throw ValidationError("--confidence must be in (0, 1)") }
        guard ["clip", "nima"].contains(metric) else { throw ValidationError("--metric must be clip or nima") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        _ = try spec(deployed, "--deployed")
        _ = try spec(candidate, "--candidate")
    }

    func spec(_ text: String, _ flag: String) throws -> EstimatorSpec {
        guard let spec = try? EstimatorSpec.parseList(text), spec.count == 1 else {
            throw ValidationError("\(flag) must name one estimator (like knn:k=25 or ridge:alpha=10), got '\(text)'")
        }
        return spec[0]
    }

    struct Report: Encodable {
        let command: String
        let cpu: String
        let loadAverageBefore: String
        let loadAverageAfter: String
        let result: OffPolicySimulation.Result
    }

    func run() async throws {
        let folder = cems ?? (DatasetLocation.directory() as NSString).appendingPathComponent("cems")
        var loadReport = DatasetLoadReport()
        let dataset = try RoutingDataset.loadCEMS(directory: folder, metric: metric, report: &loadReport)
        let encoder = try PromptEmbedding.loadEncoder(modelDirectory: modelFolder.directory)
        var options = OffPolicySimulation.Options()
        options.trainingPrompts = train
        options.replayPrompts = prompts
        options.epsilon = epsilon
        options.confidence = confidence
        options.seed = seed
        options.concurrency = concurrency
        options.feedback = feedback
        options.deployed = .init(estimator: try spec(deployed, "--deployed"), lambda: .budget(deployedBudget))
        options.candidate = .init(estimator: try spec(candidate, "--candidate"), lambda: .fixed(candidateLambda))
        let directory =
            keep
            ?? FileManager.default.temporaryDirectory.appendingPathComponent(
                "catimage-bench-ope-\(ProcessInfo.processInfo.processIdentifier)"
            ).path
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let before = BenchEncoderCommand.loadAverage()
        Terminal.printError("training two routers on \(train) prompts, replaying \(prompts) through the gateway ...")
        let result: OffPolicySimulation.Result
        do {
            var logger = Logger(label: "catimage.bench.ope")
            logger.logLevel = .warning
            result = try await OffPolicySimulation.run(
                dataset: dataset, encoder: encoder, options: options, directory: directory, logger: logger)
        } catch let error as OffPolicyError {
            throw CommandFailure(error.message)
        } catch let error as SimulationError {
            throw CommandFailure(error.message)
        }
        let report = Report(
            command: CommandLine.arguments.joined(separator: " "), cpu: Self.cpuModel(),
            loadAverageBefore: before, loadAverageAfter: BenchEncoderCommand.loadAverage(), result: result)
        if json {
            try JSONOutput.print(report)
            return
        }
        print(report: report)
    }

    func print(report: Report) {
        let result = report.result
        let ope = result.report
        let level = Format.fixed(ope.confidence * 100, 0) + "%"
        Swift.print(
            "\(Terminal.bold("Off-policy evaluation on a CEMS replay")): \(result.prompts) prompts through the "
                + "gateway, ε = \(result.epsilon), metric \(ope.metric ?? "(unnamed)"), scored by the "
                + (result.feedback == .scorer ? "gateway's scoring queue (stand-in scorer)" : "driver (/v1/feedback)"))
        Swift.print("  deployed:  \(result.deployed)")
        Swift.print("  candidate: \(result.candidate) (λ = \(Format.fixed(ope.candidate.lambda, 4)))")
        Swift.print(
            "  usable rows \(ope.rows.usable) of \(ope.rows.decisions); explored "
                + Format.percent(ope.deployed.exploredShare)
                + "; candidate agrees with the logged pick on \(Format.percent(ope.candidate.agreement)); "
                + "effective sample size \(Format.fixed(ope.candidate.effectiveSampleSize, 0))")
        Swift.print("")
        var table = TextTable(["policy", "figure", "mean quality", "\(level) interval", "truth inside"])
        func row(_ name: String, _ interval: OffPolicyInterval?) {
            guard let interval else { return table.add(["candidate", name, "-", "-", "-"]) }
            table.add([
                "candidate", name, Format.fixed(interval.estimate),
                "[\(Format.fixed(interval.low)), \(Format.fixed(interval.high))]",
                interval.contains(result.candidateTruth) ? "yes" : "NO",
            ])
        }
        table.add(["candidate", "truth (dataset)", Format.fixed(result.candidateTruth), "", ""])
        row("IPS", ope.candidate.ips)
        row("SNIPS", ope.candidate.snips)
        row("DR", ope.candidate.dr)
        table.add([
            "deployed", "realised (with ε)", Format.fixed(ope.deployed.quality.estimate),
            "[\(Format.fixed(ope.deployed.quality.low)), \(Format.fixed(ope.deployed.quality.high))]", "",
        ])
        table.add(["deployed", "rule without ε (dataset)", Format.fixed(result.deployedRuleTruth), "", ""])
        Swift.print(table.render())
        Swift.print(
            "mean cost: deployed realised \(ope.deployed.cost.map { Format.fixed($0, 4) } ?? "-"), candidate "
                + Format.fixed(ope.candidate.cost, 4))
        Swift.print("replay: \(Format.fixed(result.replaySeconds, 1)) s; CPU \(report.cpu)")
        Swift.print("load average: before \(report.loadAverageBefore), after \(report.loadAverageAfter)")
    }

    /// The CPU model from /proc/cpuinfo.
    static func cpuModel() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        let line = text.split(separator: "\n").first { $0.hasPrefix("model name") }
        return line.map {
            String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces)
        }
            ?? "unknown"
    }
}

extension OffPolicySimulation.FeedbackSource: ExpressibleByArgument {}
