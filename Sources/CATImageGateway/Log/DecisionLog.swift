import Foundation
import GRDB
import NIOConcurrencyHelpers

/// One routing decision and its outcome, as the decision log stores it.
public struct DecisionRecord: Sendable, Equatable {
    /// When the request arrived.
    public var time: Date
    public var requestID: String
    /// `route` (a decision only) or `images` (a decision and a generation).
    public var endpoint: String
    public var prompt: String
    /// The generator the rule (or the client, when forced) chose first.
    public var chosenGenerator: String
    /// The generator that produced the image (after any fallback); `nil` on failure and for `route`.
    public var servedBy: String?
    public var lambda: Double
    /// Where λ came from: `request`, `budget` (a request's budget), `controller` or `default`.
    public var lambdaSource: String
    /// Predicted quality per generator, in the router's generator order.
    public var predicted: [String: Double]
    /// Cost of the generator that served the request (of the chosen one for `route`).
    public var cost: Double?
    /// The backend (kind and URL) that produced the image.
    public var backend: String?
    /// Each backend attempt as `generator: outcome`, in order.
    public var attempts: [String]
    /// Milliseconds from arrival to response.
    public var latencyMilliseconds: Double
    /// Milliseconds spent embedding the prompt and applying the rule.
    public var decisionMilliseconds: Double
    /// The HTTP status the client got.
    public var status: Int
    public var error: String?
    /// Probability with which the logging policy chose `chosenGenerator` (see `Gateway.Decision.propensity`); `nil`
    /// when the client forced the model.
    public var propensity: Double?
    /// True when exploration replaced the rule's pick.
    public var explored: Bool
    /// SHA-256 (hex) of the router file that made the decision; `nil` when unknown.
    public var routerDigest: String?

    public init(
        time: Date, requestID: String, endpoint: String, prompt: String, chosenGenerator: String,
        servedBy: String? = nil, lambda: Double, lambdaSource: String, predicted: [String: Double], cost: Double?,
        backend: String? = nil, attempts: [String] = [], latencyMilliseconds: Double, decisionMilliseconds: Double,
        status: Int, error: String? = nil, propensity: Double? = nil, explored: Bool = false,
        routerDigest: String? = nil
    ) {
        self.time = time
        self.requestID = requestID
        self.endpoint = endpoint
        self.prompt = prompt
        self.chosenGenerator = chosenGenerator
        self.servedBy = servedBy
        self.lambda = lambda
        self.lambdaSource = lambdaSource
        self.predicted = predicted
        self.cost = cost
        self.backend = backend
        self.attempts = attempts
        self.latencyMilliseconds = latencyMilliseconds
        self.decisionMilliseconds = decisionMilliseconds
        self.status = status
        self.error = error
        self.propensity = propensity
        self.explored = explored
        self.routerDigest = routerDigest
    }
}

/// The durable decision log: SQLite in WAL mode through GRDB, with group commit.
///
/// ``append(_:)`` returns once the row is committed, so a response sent after it is never lost to a killed
/// process (`synchronous = normal`) or to a power cut (`full`). Rows that arrive while a transaction is being
/// written wait for the next one, so under load one commit (one fsync) carries many rows, and the writing
/// happens on GRDB's writer queue, not on the request's thread.
public final class DecisionLog: DecisionStore {
    private struct Pending {
        var record: DecisionRecord
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var isFlushing = false
    }

    public let path: String
    let pool: DatabasePool
    private let state = NIOLockedValueBox(State())

    /// Opens (creating if needed) the log at `path` and brings its schema up to date.
    public init(path: String, synchronous: GatewayConfig.Log.Synchronous = .full) throws {
        self.path = path
        var configuration = Configuration()
        let mode = synchronous == .full ? "FULL" : "NORMAL"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(mode)")
        }
        configuration.busyMode = .timeout(5)
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    /// Opens an existing log for export and checks, without creating or migrating it.
    ///
    /// Not read-only: after a killed writer SQLite must replay the WAL, which needs write access.
    public init(readingFrom path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw DatabaseError(resultCode: .SQLITE_CANTOPEN, message: "no decision log at \(path)")
        }
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        pool = try DatabasePool(path: path, configuration: configuration)
        let hasTable = try pool.read { db in try db.tableExists("decisions") }
        guard hasTable else {
            throw DatabaseError(resultCode: .SQLITE_ERROR, message: "\(path) is not a catimage decision log")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE decisions (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        time REAL NOT NULL,
                        request_id TEXT NOT NULL,
                        endpoint TEXT NOT NULL,
                        prompt TEXT NOT NULL,
                        chosen_generator TEXT NOT NULL,
                        served_by TEXT,
                        lambda REAL NOT NULL,
                        lambda_source TEXT NOT NULL,
                        predicted TEXT NOT NULL,
                        cost REAL,
                        backend TEXT,
                        attempts TEXT NOT NULL,
                        latency_ms REAL NOT NULL,
                        decision_ms REAL NOT NULL,
                        status INTEGER NOT NULL,
                        error TEXT
                    );
                    CREATE INDEX decisions_request_id ON decisions(request_id);
                    """)
        }
        // Schema v2 (issue 13): propensities and router digests for off-policy evaluation, and feedback scores.
        migrator.registerMigration("v2") { db in
            try db.execute(
                sql: """
                    ALTER TABLE decisions ADD COLUMN propensity REAL;
                    ALTER TABLE decisions ADD COLUMN explored INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE decisions ADD COLUMN router_digest TEXT;
                    CREATE TABLE feedback (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        time REAL NOT NULL,
                        request_id TEXT NOT NULL,
                        score REAL NOT NULL,
                        metric TEXT,
                        source TEXT
                    );
                    CREATE INDEX feedback_request_id ON feedback(request_id);
                    """)
        }
        return migrator
    }

    /// Appends a record and returns once it is committed.
    public func append(_ record: DecisionRecord) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let startFlush = state.withLockedValue { state in
                state.pending.append(Pending(record: record, continuation: continuation))
                if state.isFlushing { return false }
                state.isFlushing = true
                return true
            }
            if startFlush {
                Task { await self.flush() }
            }
        }
    }

    /// Writes pending rows in one transaction per round until none are left.
    private func flush() async {
        while true {
            let batch = state.withLockedValue { state in
                let batch = state.pending
                state.pending.removeAll(keepingCapacity: true)
                if batch.isEmpty { state.isFlushing = false }
                return batch
            }
            if batch.isEmpty { return }
            let records = batch.map(\.record)
            do {
                try await pool.write { db in
                    for record in records { try Self.insert(record, into: db) }
                }
                for item in batch { item.continuation.resume() }
            } catch {
                for item in batch { item.continuation.resume(throwing: error) }
            }
        }
    }

    private static func insert(_ record: DecisionRecord, into db: Database) throws {
        let predicted = String(
            decoding: try JSONSerialization.data(
                withJSONObject: record.predicted, options: [.sortedKeys]), as: UTF8.self)
        let attempts = String(decoding: try JSONSerialization.data(withJSONObject: record.attempts), as: UTF8.self)
        try db.execute(
            sql: """
                INSERT INTO decisions (time, request_id, endpoint, prompt, chosen_generator, served_by, lambda,
                    lambda_source, predicted, cost, backend, attempts, latency_ms, decision_ms, status, error,
                    propensity, explored, router_digest)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                record.time.timeIntervalSince1970, record.requestID, record.endpoint, record.prompt,
                record.chosenGenerator, record.servedBy, record.lambda, record.lambdaSource, predicted, record.cost,
                record.backend, attempts, record.latencyMilliseconds, record.decisionMilliseconds, record.status,
                record.error, record.propensity, record.explored, record.routerDigest,
            ])
    }

    /// Every record, oldest first.
    public func records() throws -> [DecisionRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM decisions ORDER BY id").map(Self.record(from:))
        }
    }

    /// Number of rows in the log.
    public func count() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM decisions") ?? 0 }
    }

    /// The request IDs present in the log.
    public func requestIDs() throws -> Set<String> {
        try pool.read { db in Set(try String.fetchAll(db, sql: "SELECT request_id FROM decisions")) }
    }

    static func record(from row: Row) -> DecisionRecord {
        let predictedText: String = row["predicted"] ?? "{}"
        let attemptsText: String = row["attempts"] ?? "[]"
        let predicted =
            (try? JSONSerialization.jsonObject(with: Data(predictedText.utf8))) as? [String: Double] ?? [:]
        let attempts = (try? JSONSerialization.jsonObject(with: Data(attemptsText.utf8))) as? [String] ?? []
        return DecisionRecord(
            time: Date(timeIntervalSince1970: row["time"] ?? 0), requestID: row["request_id"] ?? "",
            endpoint: row["endpoint"] ?? "", prompt: row["prompt"] ?? "",
            chosenGenerator: row["chosen_generator"] ?? "",
            servedBy: row["served_by"], lambda: row["lambda"] ?? 0, lambdaSource: row["lambda_source"] ?? "",
            predicted: predicted, cost: row["cost"], backend: row["backend"], attempts: attempts,
            latencyMilliseconds: row["latency_ms"] ?? 0, decisionMilliseconds: row["decision_ms"] ?? 0,
            status: row["status"] ?? 0, error: row["error"], propensity: row["propensity"],
            explored: row["explored"] ?? false, routerDigest: row["router_digest"])
    }
}
