import Foundation
import GRDB

/// Counts and per-generator means of a collection, for `collect`'s closing table and `collect inspect`.
public struct CollectionSummary: Sendable, Equatable, Codable {
    /// One generator's renders.
    public struct Generator: Sendable, Equatable, Codable {
        public var name: String
        public var done: Int
        public var failed: Int
        /// Mean and 95th percentile of `cost` over done renders.
        public var meanCost: Double?
        public var p95Cost: Double?
        /// Mean of each metric over its done scores, by metric name.
        public var meanScores: [String: Double]
        /// Done renders with no done score, by metric name.
        public var missingScores: [String: Int]
        /// Done renders with at least one rating.
        public var rated: Int
    }

    public var prompts: Int
    public var renders: Int
    public var done: Int
    public var failed: Int
    /// Metric names with at least one score row, sorted.
    public var metrics: [String]
    /// Ratings in all (several raters may rate one render).
    public var ratings: Int
    public var generators: [Generator]
    /// Done renders missing a score, by metric (the coverage gap).
    public var missingScores: [String: Int]
    /// Done renders with no rating.
    public var unrated: Int
    /// How far the raters agree (Krippendorff's alpha, pairwise Spearman) over the `ratings` table.
    public var agreement: RaterAgreement
}

extension CollectionStore {
    /// Counts, per-generator means and coverage; `generators` narrows the per-generator lines.
    public func summary(generators only: Set<String>? = nil) throws(CollectionError) -> CollectionSummary {
        try read { db in
            let prompts = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM prompts") ?? 0
            let metrics = try String.fetchAll(db, sql: "SELECT DISTINCT metric FROM scores ORDER BY metric")
            let ratings = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM ratings") ?? 0
            var generators: [CollectionSummary.Generator] = []
            let names = try String.fetchAll(db, sql: "SELECT DISTINCT generator FROM renders ORDER BY generator")
            for name in names where only?.contains(name) ?? true {
                let done =
                    try Int.fetchOne(
                        db, sql: "SELECT COUNT(*) FROM renders WHERE generator = ? AND status = 'done'",
                        arguments: [name]
                    ) ?? 0
                let failed =
                    try Int.fetchOne(
                        db, sql: "SELECT COUNT(*) FROM renders WHERE generator = ? AND status = 'failed'",
                        arguments: [name]) ?? 0
                let costs = try Double.fetchAll(
                    db, sql: "SELECT cost FROM renders WHERE generator = ? AND status = 'done' AND cost IS NOT NULL",
                    arguments: [name])
                var meanScores: [String: Double] = [:]
                var missing: [String: Int] = [:]
                for metric in metrics {
                    let row = try Row.fetchOne(
                        db,
                        sql: """
                            SELECT AVG(s.value) AS mean, SUM(CASE WHEN s.status = 'done' THEN 1 ELSE 0 END) AS scored
                            FROM renders r LEFT JOIN scores s ON s.render_id = r.id AND s.metric = ?
                            WHERE r.generator = ? AND r.status = 'done'
                            """, arguments: [metric, name])
                    if let mean: Double = row?["mean"] { meanScores[metric] = mean }
                    missing[metric] = done - ((row?["scored"] as Int?) ?? 0)
                }
                let rated =
                    try Int.fetchOne(
                        db,
                        sql: """
                            SELECT COUNT(*) FROM renders r WHERE r.generator = ? AND r.status = 'done'
                              AND EXISTS (SELECT 1 FROM ratings g WHERE g.render_id = r.id)
                            """, arguments: [name]) ?? 0
                generators.append(
                    .init(
                        name: name, done: done, failed: failed, meanCost: Self.mean(costs),
                        p95Cost: Self.percentile(costs, 0.95), meanScores: meanScores, missingScores: missing,
                        rated: rated))
            }
            var missingScores: [String: Int] = [:]
            for metric in metrics {
                missingScores[metric] = generators.reduce(0) { $0 + ($1.missingScores[metric] ?? 0) }
            }
            let records = try RatingRecord.fetchAll(db)
            let done = generators.reduce(0) { $0 + $1.done }
            let failed = generators.reduce(0) { $0 + $1.failed }
            return CollectionSummary(
                prompts: prompts, renders: done + failed, done: done, failed: failed, metrics: metrics,
                ratings: ratings, generators: generators, missingScores: missingScores,
                unrated: done - generators.reduce(0) { $0 + $1.rated }, agreement: RaterAgreement(records: records))
        }
    }

    static func mean(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }

    /// The nearest-rank percentile.
    static func percentile(_ values: [Double], _ fraction: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count - 1, max(0, rank - 1))]
    }
}
