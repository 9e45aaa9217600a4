import Foundation
import GRDB

/// The long CSV `catimage train --csv` and `evaluate --csv` read: one row per done render,
/// `prompt_id, prompt, generator, sample, cost, <one column per metric>, rating`.
///
/// A metric cell is empty when that render has no done score; `rating` is the mean over raters, empty when unrated.
public struct CollectionExport: Sendable {
    /// The header, metric columns sorted by name.
    public var header: [String]
    /// The rows, by prompt position, generator and sample.
    public var rows: [[String]]
    /// Renders missing a score, by metric (their cells are empty).
    public var missingScores: [String: Int]

    /// The CSV text (RFC 4180 quoting, LF line ends).
    public var csv: String {
        ([header] + rows).map { $0.map(Self.quote).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    static func quote(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

extension CollectionStore {
    /// The export of every done render.
    public func export() throws(CollectionError) -> CollectionExport {
        try read { db in
            let metrics = try String.fetchAll(db, sql: "SELECT DISTINCT metric FROM scores ORDER BY metric")
            var scores: [Int64: [String: Double]] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT render_id, metric, value FROM scores WHERE status = 'done' AND value IS NOT NULL")
            {
                scores[row["render_id"], default: [:]][row["metric"]] = row["value"]
            }
            var ratings: [Int64: Double] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT render_id, AVG(rating) AS mean FROM ratings GROUP BY render_id")
            {
                ratings[row["render_id"]] = row["mean"]
            }
            var missing: [String: Int] = Dictionary(uniqueKeysWithValues: metrics.map { ($0, 0) })
            var rows: [[String]] = []
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT r.id, r.prompt_id, p.text, r.generator, r.sample, r.cost
                    FROM renders r JOIN prompts p ON p.prompt_id = r.prompt_id
                    WHERE r.status = 'done' ORDER BY p.position, r.generator, r.sample
                    """)
            {
                let id: Int64 = row["id"]
                let cost: Double? = row["cost"]
                var fields: [String] = [
                    row["prompt_id"], row["text"], row["generator"], "\(row["sample"] as Int)",
                    cost.map(Self.number) ?? "",
                ]
                for metric in metrics {
                    if let value = scores[id]?[metric] {
                        fields.append(Self.number(value))
                    } else {
                        fields.append("")
                        missing[metric, default: 0] += 1
                    }
                }
                fields.append(ratings[id].map(Self.number) ?? "")
                rows.append(fields)
            }
            return CollectionExport(
                header: ["prompt_id", "prompt", "generator", "sample", "cost"] + metrics + ["rating"], rows: rows,
                missingScores: missing)
        }
    }

    /// Shortest text that reads back as the same Double.
    static func number(_ value: Double) -> String { "\(value)" }
}
