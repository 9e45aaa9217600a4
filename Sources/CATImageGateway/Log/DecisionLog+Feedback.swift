import Foundation
import GRDB

extension DecisionLog {
    /// Stores a feedback row and returns once it is committed.
    public func appendFeedback(_ feedback: FeedbackRecord) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO feedback (time, request_id, score, metric, source) VALUES (?, ?, ?, ?, ?)",
                arguments: [
                    feedback.time.timeIntervalSince1970, feedback.requestID, feedback.score, feedback.metric,
                    feedback.source,
                ])
        }
    }

    /// Whether some decision of the log carries `requestID`.
    public func containsDecision(requestID: String) throws -> Bool {
        try pool.read { db in
            try Bool.fetchOne(
                db, sql: "SELECT EXISTS (SELECT 1 FROM decisions WHERE request_id = ?)", arguments: [requestID])
                ?? false
        }
    }

    /// Every feedback row, oldest first; none for a log written before schema v2 (opened without migrating).
    public func feedback() throws -> [FeedbackRecord] {
        try pool.read { db in
            guard try db.tableExists("feedback") else { return [] }
            return try Row.fetchAll(db, sql: "SELECT * FROM feedback ORDER BY id").map { row in
                FeedbackRecord(
                    time: Date(timeIntervalSince1970: row["time"] ?? 0), requestID: row["request_id"] ?? "",
                    score: row["score"] ?? 0, metric: row["metric"], source: row["source"])
            }
        }
    }
}
