import Foundation
import GRDB

extension DecisionLog {
    /// Columns of the exported long CSV, in order. `quality` is left empty: scores are attached later.
    public static let exportColumns = [
        "prompt_id", "prompt", "generator", "quality", "cost", "time", "endpoint", "chosen_generator", "lambda",
        "lambda_source", "predicted_quality", "status", "latency_ms", "request_id",
    ]

    /// Writes the log as a long CSV, one row per generated image (per decision with `includeRouteDecisions`),
    /// that `RoutingDataset.loadLongCSV` reads once the `quality` column is filled (`--id-column prompt_id
    /// --cost-column cost`). Equal prompt texts share a `prompt_id`, so one prompt rendered by several
    /// generators becomes one prompt of the dataset. Returns the number of data rows.
    @discardableResult
    public func exportLongCSV(includeRouteDecisions: Bool = false, write: (String) throws -> Void) throws -> Int {
        try write(Self.exportColumns.joined(separator: ",") + "\n")
        let filter =
            includeRouteDecisions
            ? "WHERE served_by IS NOT NULL OR endpoint = 'route'" : "WHERE served_by IS NOT NULL"
        var rows = 0
        let dates = ISO8601DateFormatter()
        try pool.read { db in
            let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM decisions \(filter) ORDER BY id")
            while let row = try cursor.next() {
                try write(Self.exportLine(Self.record(from: row), dates: dates))
                rows += 1
            }
        }
        return rows
    }

    /// One record as a line of the long CSV (``exportColumns``), newline included.
    static func exportLine(_ record: DecisionRecord, dates: ISO8601DateFormatter) -> String {
        let generator = record.servedBy ?? record.chosenGenerator
        let fields: [String] = [
            Self.promptID(record.prompt), record.prompt, generator, "",
            record.cost.map { "\($0)" } ?? "",
            dates.string(from: record.time), record.endpoint, record.chosenGenerator,
            "\(record.lambda)", record.lambdaSource, record.predicted[generator].map { "\($0)" } ?? "",
            "\(record.status)", String(format: "%.3f", record.latencyMilliseconds), record.requestID,
        ]
        return fields.map(Self.csvField).joined(separator: ",") + "\n"
    }

    /// A stable identifier of a prompt's text (FNV-1a, 64 bits).
    public static func promptID(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "p" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
