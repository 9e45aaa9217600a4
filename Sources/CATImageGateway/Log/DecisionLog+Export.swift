import Foundation
import GRDB

extension DecisionLog {
    /// Columns of the exported long CSV, in order. `quality` holds the request's mean feedback score of one metric
    /// when the export is given scores, else it is left empty for scores attached later.
    public static let exportColumns = [
        "prompt_id", "prompt", "generator", "quality", "cost", "time", "endpoint", "chosen_generator", "lambda",
        "lambda_source", "predicted_quality", "status", "latency_ms", "request_id", "propensity", "explored",
        "router_digest",
    ]

    /// What an export with scores wrote.
    public struct ScoredExport: Sendable, Equatable {
        /// Data rows written (each with a quality).
        public var rows: Int
        /// Rows left out for lacking a score of the metric (the long-CSV loader refuses an empty quality).
        public var unscored: Int

        public init(rows: Int, unscored: Int) {
            self.rows = rows
            self.unscored = unscored
        }
    }

    /// Writes the long CSV with `quality` filled from `scores` (mean feedback per request id, see
    /// ``FeedbackScores``); rows without a score are left out and counted.
    public func exportLongCSV(
        includeRouteDecisions: Bool = false, scores: [String: Double], write: (String) throws -> Void
    ) throws -> ScoredExport {
        var unscored = 0
        let rows = try exportRows(includeRouteDecisions: includeRouteDecisions, write: write) { record in
            guard let score = scores[record.requestID] else {
                unscored += 1
                return nil
            }
            return "\(score)"
        }
        return ScoredExport(rows: rows, unscored: unscored)
    }

    /// Writes the log as a long CSV, one row per generated image (per decision with `includeRouteDecisions`),
    /// that `RoutingDataset.loadLongCSV` reads once the `quality` column is filled (`--id-column prompt_id
    /// --cost-column cost`). Equal prompt texts share a `prompt_id`, so one prompt rendered by several
    /// generators becomes one prompt of the dataset. Returns the number of data rows.
    @discardableResult
    public func exportLongCSV(includeRouteDecisions: Bool = false, write: (String) throws -> Void) throws -> Int {
        try exportRows(includeRouteDecisions: includeRouteDecisions, write: write) { _ in "" }
    }

    /// Writes the header and one row per exported decision whose `quality` is not `nil`.
    private func exportRows(
        includeRouteDecisions: Bool, write: (String) throws -> Void, quality: (DecisionRecord) -> String?
    ) throws -> Int {
        try write(Self.exportColumns.joined(separator: ",") + "\n")
        let filter =
            includeRouteDecisions
            ? "WHERE served_by IS NOT NULL OR endpoint = 'route'" : "WHERE served_by IS NOT NULL"
        var rows = 0
        let dates = ISO8601DateFormatter()
        try pool.read { db in
            let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM decisions \(filter) ORDER BY id")
            while let row = try cursor.next() {
                let record = Self.record(from: row)
                guard let quality = quality(record) else { continue }
                try write(Self.exportLine(record, quality: quality, dates: dates))
                rows += 1
            }
        }
        return rows
    }

    /// One record as a line of the long CSV (``exportColumns``), newline included.
    public static func exportLine(_ record: DecisionRecord, quality: String = "", dates: ISO8601DateFormatter) -> String
    {
        let generator = record.servedBy ?? record.chosenGenerator
        let fields: [String] = [
            Self.promptID(record.prompt), record.prompt, generator, quality,
            record.cost.map { "\($0)" } ?? "",
            dates.string(from: record.time), record.endpoint, record.chosenGenerator,
            "\(record.lambda)", record.lambdaSource, record.predicted[generator].map { "\($0)" } ?? "",
            "\(record.status)", String(format: "%.3f", record.latencyMilliseconds), record.requestID,
            record.propensity.map { "\($0)" } ?? "", record.explored ? "1" : "0", record.routerDigest ?? "",
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
