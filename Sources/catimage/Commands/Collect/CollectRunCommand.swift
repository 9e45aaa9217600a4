import ArgumentParser
import AsyncHTTPClient
import CATImageCollect
import Foundation
import Logging

/// `catimage collect [run]`: render every prompt with every generator, resumably.
struct CollectRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Render every prompt with every generator of a gateway config (the default subcommand).",
        discussion: """
            Each generator renders each prompt --samples times with the gateway's own backend code and options.
            Images go to DIR/images/<sha256>.png, the manifest to DIR/collection.sqlite. Running the same command
            again does only what is missing; --retry-failed also redoes failed renders. A folder collected with a
            different generators section is refused.

            Examples:
              catimage collect --config gateway.yaml --prompts prompts.txt --samples 2 --out pool
              catimage collect --config gateway.yaml --prompts prompts.csv --prompt-column caption \\
                --samples 4 --out pool --generators sdxl-8,sdxl-30 --dry-run
            """
    )

    @Option(help: "The gateway config whose generators: section renders.")
    var config: String

    @Option(help: "Prompts: text lines, .jsonl with \"prompt\" (and \"id\"), or a .csv column.")
    var prompts: String

    @Option(help: "Images per (prompt, generator).")
    var samples: Int

    @Option(help: "The collection folder (created if missing).")
    var out: String

    @Option(help: "Comma-separated generator names (default: all of the config's).")
    var generators: String?

    @Option(help: "CSV column holding the prompt text (a .csv prompts file; default 'prompt').")
    var promptColumn: String?

    @Option(help: "CSV 'generator,cost' whose costs replace the measured seconds.")
    var costTable: String?

    @Flag(help: "Render failed (prompt, generator, sample) cells again.")
    var retryFailed = false

    @Flag(help: "Print the plan and a time estimate from probe renders; render nothing.")
    var dryRun = false

    @Option(help: "Probe renders per generator for --dry-run's estimate.")
    var probes = 1

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "warning"

    func validate() throws {
        guard samples >= 1 else { throw ValidationError("--samples must be at least 1, got \(samples)") }
        guard (1...20).contains(probes) else { throw ValidationError("--probes must be between 1 and 20") }
    }

    func run() async throws {
        var logger = Logger(label: "catimage.collect")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        var request = CollectRequest(configPath: config, promptsPath: prompts, samples: samples, outputDirectory: out)
        request.promptColumn = promptColumn
        request.generators = generators.map {
            $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        request.costTablePath = costTable
        request.retryFailed = retryFailed
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await collect(request, client: client, logger: logger)
        } catch {
            try? await client.shutdown()
            if let error = error as? CollectionError { throw error.forCommandLine }
            throw error
        }
        try await client.shutdown()
    }

    private func collect(_ request: CollectRequest, client: HTTPClient, logger: Logger) async throws {
        let session = try CollectSession.prepare(request, dryRun: dryRun, client: client, logger: logger)
        if !session.prompts.skippedBlankLines.isEmpty {
            let lines = session.prompts.skippedBlankLines
            Terminal.warn(
                "\(prompts): skipped \(lines.count) blank line(s) (line \(lines.prefix(5).map(String.init).joined(separator: ", "))"
                    + (lines.count > 5 ? ", …" : "") + ")")
        }
        let plan = session.plan
        let toDo = plan.jobs.count
        print(
            "\(plan.prompts) prompts × \(plan.lines.count) generators × \(plan.samples) samples = "
                + "\(plan.lines.reduce(0) { $0 + $1.cells }) renders; \(toDo) to do")
        if dryRun {
            try await printDryRun(session)
            return
        }
        guard toDo > 0 else {
            print(try Self.summaryTable(session.collector.store, generators: plan.lines.map(\.generator)))
            return
        }
        let bar = ProgressBar(label: "collecting", unit: "images")
        bar.update(0, toDo)
        let result = try await session.collector.run(plan) { progress in
            if bar.isDrawn {
                let seconds = max(progress.elapsed, 1e-3)
                bar.status(
                    progress.generators.map {
                        "\($0.name) \(ProgressBar.rate(Double($0.done + $0.failed) / seconds))/s"
                    }.joined(separator: "  "))
            }
            bar.update(progress.finished, progress.toDo)
        }
        bar.finish()
        print(
            "rendered \(result.done.values.reduce(0, +)), failed \(result.failed.count) in "
                + ProgressBar.duration(result.seconds))
        print(try Self.summaryTable(session.collector.store, generators: plan.lines.map(\.generator)))
        if !result.failed.isEmpty {
            print("\nfailed renders (kept as failed rows; rerun with --retry-failed to try them again):")
            for failure in result.failed.prefix(20) {
                print(
                    "  \(failure.key.generator) \(failure.key.promptID) sample \(failure.key.sample): \(failure.error)")
            }
            if result.failed.count > 20 { print("  … and \(result.failed.count - 20) more") }
        }
    }

    private func printDryRun(_ session: CollectSession) async throws {
        let estimate = await session.estimate(probes: probes)
        var table = TextTable(["generator", "renders", "done", "failed", "to do", "s/image (probe)"])
        for line in session.plan.lines {
            table.add([
                line.generator, "\(line.cells)", "\(line.done)", "\(line.failed)", "\(line.toDo)",
                Format.fixed(estimate.secondsPerImage[line.generator], 3),
            ])
        }
        print(table.render())
        print(
            "estimated time: \(ProgressBar.duration(estimate.totalSeconds)) "
                + "(\(probes) probe render(s) per generator; servers in parallel, each at its max_concurrency)")
        if !estimate.unreachable.isEmpty {
            Terminal.warn(
                "every probe failed for: \(estimate.unreachable.joined(separator: ", ")) (not in the estimate)")
        }
    }

    /// Per generator: done, failed, mean and p95 cost over the whole folder.
    static func summaryTable(_ store: CollectionStore, generators: [String]) throws -> String {
        let summary = try store.summary(generators: Set(generators))
        var table = TextTable(["generator", "done", "failed", "mean cost", "p95 cost"])
        for line in summary.generators {
            table.add([
                line.name, "\(line.done)", "\(line.failed)", Format.fixed(line.meanCost, 3),
                Format.fixed(line.p95Cost, 3),
            ])
        }
        return table.render()
    }
}
