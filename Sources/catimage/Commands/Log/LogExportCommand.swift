import ArgumentParser
import CATImageGateway
import Foundation

/// `catimage log export`: the log as a long CSV for retraining once quality scores are attached.
struct LogExportCommand: ParsableCommand {
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
            """
    )

    @Option(help: "The decision log (the config's log.path).")
    var db: String

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
        guard FileManager.default.fileExists(atPath: db) else { throw ValidationError("no decision log at \(db)") }
    }

    func run() throws {
        let log = try DecisionLog(readingFrom: db)
        let feedback = try log.feedback()
        var scores: FeedbackScores?
        if !feedback.isEmpty || metric != nil {
            do { scores = try FeedbackScores(feedback, metric: metric) } catch let error as OffPolicyError {
                throw CommandFailure(error.message + (error.code == .ambiguousMetric ? " with --metric" : ""))
            }
        }
        /// Writes the rows and says on standard error what was left out.
        func export(_ write: (String) throws -> Void) throws -> Int {
            guard let scores else {
                return try log.exportLongCSV(includeRouteDecisions: includeRouteDecisions, write: write)
            }
            let result = try log.exportLongCSV(
                includeRouteDecisions: includeRouteDecisions, scores: scores.scores, write: write)
            if result.unscored > 0 {
                Terminal.warn(
                    "left out \(result.unscored) image(s) without feedback of metric "
                        + (scores.metric ?? "(unnamed)"))
            }
            return result.rows
        }
        guard let output else {
            var sink = ChunkedWriter(FileHandle.standardOutput)
            _ = try export { try sink.append($0) }
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
            let rows = try export { try sink.append($0) }
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
