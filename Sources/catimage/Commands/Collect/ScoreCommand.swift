import ArgumentParser
import AsyncHTTPClient
import CATImageCollect
import CATImageGateway
import Foundation
import Logging

/// `catimage score`: score a collection's images with an HTTP scorer.
struct ScoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score a collection's images with an HTTP scorer (one metric per run; rerun to resume).",
        discussion: """
            The scorer protocol: POST <url> {"metric": M, "items": [{"id", "prompt", "image_png_base64"}]} answered
            by {"scores": [{"id", "score"}]}, one finite number per item, higher is better (README, "Your own
            generators", has a Python sketch wrapping your own model). Each metric is its own column of the export.

            Examples:
              catimage score --collection pool --scorer http://127.0.0.1:9000/score --metric clip
              catimage score --collection pool --scorer http://gpu-box:9000/score --metric imagereward --batch 16
            """
    )

    @Option(help: "The collection folder.")
    var collection: String

    @Option(help: "The scorer's URL (the POST goes to it as given).")
    var scorer: String

    @Option(help: "The metric's name (the export's column).")
    var metric: String

    @Option(help: "Images per request.")
    var batch = 8

    @Option(help: "Requests in flight at once.")
    var concurrency = 2

    @Option(help: "Seconds one request may take.")
    var timeout = 60.0

    @Option(help: "Extra attempts after a timeout, broken connection, 429 or 5xx.")
    var retries = 2

    @Flag(help: "Score again the images whose score failed.")
    var retryFailed = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "warning"

    func validate() throws {
        guard let url = URL(string: scorer), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw ValidationError("--scorer must be an http:// or https:// URL, got '\(scorer)'")
        }
        guard (1...1024).contains(batch) else { throw ValidationError("--batch must be between 1 and 1024") }
        guard (1...256).contains(concurrency) else { throw ValidationError("--concurrency must be between 1 and 256") }
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number") }
        guard (0...10).contains(retries) else { throw ValidationError("--retries must be between 0 and 10") }
    }

    func run() async throws {
        var logger = Logger(label: "catimage.score")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        var options = ScorerClient.Options()
        options.batchSize = batch
        options.concurrency = concurrency
        options.timeoutSeconds = timeout
        options.retries = retries
        options.retryFailed = retryFailed
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await score(options: options, client: client, logger: logger)
        } catch {
            try? await client.shutdown()
            if let error = error as? CollectionError {
                throw error.code == .invalidOption ? CommandFailure("--metric: \(error)") : error.forCommandLine
            }
            throw error
        }
        try await client.shutdown()
    }

    private func score(options: ScorerClient.Options, client: HTTPClient, logger: Logger) async throws {
        let store = try CollectionStore(existing: collection)
        let scoring = try ScoringRun(
            store: store, scorer: ScorerClient(url: scorer, client: client, logger: logger), metric: metric,
            options: options)
        let jobs = try scoring.plan()
        print("\(jobs.count) image(s) to score with '\(metric)'")
        if !jobs.isEmpty {
            let bar = ProgressBar(label: "scoring", unit: "images")
            bar.update(0, jobs.count)
            let result = try await scoring.run(jobs) { progress in
                if bar.isDrawn, progress.failed > 0 { bar.status("\(progress.failed) failed") }
                bar.update(progress.done + progress.failed, progress.toDo)
            }
            bar.finish()
            print("scored \(result.done), failed \(result.failed.count) in \(ProgressBar.duration(result.seconds))")
            if !result.failed.isEmpty {
                print("failed scores (rerun with --retry-failed to try them again):")
                for failure in result.failed.prefix(20) { print("  render \(failure.renderID): \(failure.error)") }
                if result.failed.count > 20 { print("  … and \(result.failed.count - 20) more") }
            }
        }
        let summary = try store.summary()
        var table = TextTable(["generator", "scored", "missing", "mean \(metric)"])
        for line in summary.generators {
            let missing = line.missingScores[metric] ?? line.done
            table.add([line.name, "\(line.done - missing)", "\(missing)", Format.fixed(line.meanScores[metric], 4)])
        }
        print(table.render())
    }
}
