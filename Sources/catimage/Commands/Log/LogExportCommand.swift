import ArgumentParser
import CATImageGateway
import Foundation

/// `catimage log export`: the log as a long CSV for retraining once quality scores are attached.
struct LogExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the decision log as a long CSV (one row per generated image; quality left empty).",
        discussion: """
            Fill the quality column with scores of the images, then train on it:
              catimage log export --db decisions.sqlite --format csv -o traffic.csv
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
            try await export(log) { try sink.append($0) }
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
    /// The long CSV of either store, streamed to `write`.
    func export(_ log: any DecisionStore, write: (String) throws -> Void) async throws -> Int {
        if let postgres = log as? PostgresDecisionLog {
            return try await postgres.exportLongCSV(includeRouteDecisions: includeRouteDecisions, write: write)
        }
        guard let sqlite = log as? DecisionLog else { throw CommandFailure("unsupported decision store") }
        return try sqlite.exportLongCSV(includeRouteDecisions: includeRouteDecisions, write: write)
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
