import ArgumentParser
import CATImageGateway
import Foundation

/// `catimage log export`: the log as a long CSV for retraining once quality scores are attached.
struct LogExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the decision log as a long CSV (one row per generated image, quality from its feedback).",
        discussion: """
            When the log holds feedback (POST /v1/feedback, the scoring: section), the quality column is the \
            request's mean score of one metric (--metric; needed when there are several), and images without a \
            score of it are left out (counted). Without feedback, quality is left empty for scores attached later. \
            The propensity, explored and router_digest columns say how each generator was chosen. Then:
              catimage log export --db decisions.sqlite --metric clip -o traffic.csv
              catimage train --csv traffic.csv --id-column prompt_id --cost-column cost --missing impute ...

            Examples:
              catimage log export --db decisions.sqlite --format csv > traffic.csv
              catimage log export --db decisions.sqlite --format csv --include-route-decisions -o all.csv
              catimage log export --config gateway.yaml -o traffic.csv      # the store the config names
              catimage log export --postgres postgres://catimage@127.0.0.1:5432/catimage -o traffic.csv
            """
    )

    @OptionGroup var store: LogStoreOptions

    @Option(help: "Output format (csv).")
    var format: String = "csv"

    @Option(name: .shortAndLong, help: "Write here instead of standard output.")
    var output: String?

    @Flag(help: "Also export /v1/route decisions (no image was generated for them).")
    var includeRouteDecisions = false

    @Option(help: "The feedback metric that fills the quality column (default: the only one in the log).")
    var metric: String?

    func validate() throws {
        guard format == "csv" else { throw ValidationError("unknown --format '\(format)'; only csv is supported") }
    }

    func run() async throws {
        let log = try await store.open()
        do {
            try await write(log)
            await log.close()
        } catch {
            await log.close()
            throw error
        }
    }

    func write(_ log: any DecisionStore) async throws {
        guard let output else {
            var sink = ChunkedWriter(FileHandle.standardOutput)
            _ = try await export(log) { try sink.append($0) }
            try sink.flush()
            return
        }
        // Rows stream into a temporary file beside the output, renamed into place once complete: a log of any
        // size exports in constant memory, and a failed export leaves no half-written CSV.
        let partial = output + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        guard FileManager.default.createFile(atPath: partial, contents: nil) else {
            throw CommandFailure("cannot create \(partial)")
        }
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: partial))
            var sink = ChunkedWriter(handle)
            let rows = try await export(log) { try sink.append($0) }
            try sink.flush()
            try handle.close()
            if FileManager.default.fileExists(atPath: output) { try FileManager.default.removeItem(atPath: output) }
            try FileManager.default.moveItem(atPath: partial, toPath: output)
            Terminal.printError("wrote \(rows) row(s) to \(output)")
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
    }
}

extension LogExportCommand {
    /// The long CSV of either store, streamed to `write`; `quality` from the feedback of `--metric` when the log
    /// holds feedback (images without it are left out and counted on standard error).
    func export(_ log: any DecisionStore, write: (String) throws -> Void) async throws -> Int {
        let feedback = try await log.feedback()
        var scores: FeedbackScores?
        if !feedback.isEmpty || metric != nil {
            do { scores = try FeedbackScores(feedback, metric: metric) } catch let error as OffPolicyError {
                throw CommandFailure(error.message + (error.code == .ambiguousMetric ? " with --metric" : ""))
            }
        }
        guard let scores else {
            if let postgres = log as? PostgresDecisionLog {
                return try await postgres.exportLongCSV(includeRouteDecisions: includeRouteDecisions, write: write)
            }
            guard let sqlite = log as? DecisionLog else { throw CommandFailure("unsupported decision store") }
            return try sqlite.exportLongCSV(includeRouteDecisions: includeRouteDecisions, write: write)
        }
        let result: DecisionLog.ScoredExport
        if let sqlite = log as? DecisionLog {
            result = try sqlite.exportLongCSV(
                includeRouteDecisions: includeRouteDecisions, scores: scores.scores, write: write)
        } else {
            // Any other store: the same rows from its records (PostgreSQL holds the same columns).
            try write(DecisionLog.exportColumns.joined(separator: ",") + "\n")
            let dates = ISO8601DateFormatter()
            var rows = 0
            var unscored = 0
            for record in try await log.records()
            where record.servedBy != nil || (includeRouteDecisions && record.endpoint == "route") {
                guard let score = scores.scores[record.requestID] else {
                    unscored += 1
                    continue
                }
                try write(DecisionLog.exportLine(record, quality: "\(score)", dates: dates))
                rows += 1
            }
            result = DecisionLog.ScoredExport(rows: rows, unscored: unscored)
        }
        if result.unscored > 0 {
            Terminal.warn(
                "left out \(result.unscored) image(s) without feedback of metric " + (scores.metric ?? "(unnamed)"))
        }
        return result.rows
    }
}

/// Collects text and writes it to a file handle in chunks of about 64 KiB.
struct ChunkedWriter {
    let handle: FileHandle
    var buffer = Data()

    init(_ handle: FileHandle) {
        self.handle = handle
        buffer.reserveCapacity(1 << 16)
    }

    mutating func append(_ text: String) throws {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { try flush() }
    }

    mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }
}
