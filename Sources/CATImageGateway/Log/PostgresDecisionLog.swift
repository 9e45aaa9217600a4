import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO

/// A PostgreSQL problem, with the server it concerns.
public struct PostgresStoreError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// No answer within the deadline (server down, unreachable, or a wrong port).
        case unreachable
        /// The server answered with an error (authentication, missing database, SQL).
        case server
        /// A row read back does not decode.
        case invalidRow
    }

    public var code: Code
    /// `host:port/database`.
    public var endpoint: String
    public var message: String

    public var description: String { "PostgreSQL at \(endpoint): \(message)" }
}

/// The decision log on PostgreSQL, shared by every replica of a fleet: the SQLite log's tables (schema v2 of
/// CONTRACT.md, `request_id` unique) created by versioned migrations, written in multi-row batches.
///
/// Durability: while PostgreSQL commits a batch within `write_timeout_seconds`, ``append(_:)`` returns after its row's
/// batch is committed (group commit), so a response sent after it survives a `kill -9` of the replica, and a batch
/// retried after a lost acknowledgement never duplicates a row (`ON CONFLICT (request_id) DO NOTHING`). When a write
/// fails or outlasts the timeout the store turns *degraded*: ``append(_:)`` returns at once, rows wait in a bounded
/// in-memory queue that is retried with growing pauses (0.1 s doubling to 5 s; the connection pool reconnects with its
/// own backoff), and rows beyond `queue_limit` are dropped and counted. The store is healthy again once the queue is
/// drained. Rows queued while degraded are lost if the replica is killed.
public final class PostgresDecisionLog: DecisionStore {
    /// Counters for `/metrics` and `/healthz`.
    public struct Snapshot: Sendable, Equatable {
        public var degraded: Bool
        /// Rows waiting to be written.
        public var queued: Int
        /// Rows committed by this process.
        public var written: UInt64
        /// Rows dropped because the queue was full (or the store closed before writing them).
        public var dropped: UInt64
        /// Batch writes that failed or timed out.
        public var failedWrites: UInt64
        /// Rows whose request stopped waiting before the commit (the store was degraded or turned so).
        public var released: UInt64
    }

    private struct Pending {
        var record: DecisionRecord
        /// The waiting request, while the store is healthy.
        var waiter: Int?
    }

    private struct State {
        var pending: [Pending] = []
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
        var isFlushing = false
        var degraded = false
        var closed = false
        var written: UInt64 = 0
        var dropped: UInt64 = 0
        var failedWrites: UInt64 = 0
        var released: UInt64 = 0
        var lastDropWarning: ContinuousClock.Instant?
    }

    public let settings: GatewayConfig.Log.Postgres
    /// The connection pool (`pool_size` connections), also used by ``FleetBudget``.
    public let client: PostgresClient
    let logger: Logger
    private let state = NIOLockedValueBox(State())
    private let runTask: Task<Void, Never>

    /// `host:port/database`, for messages.
    public var endpoint: String { "\(settings.host):\(settings.port)/\(settings.database)" }

    private init(settings: GatewayConfig.Log.Postgres, logger: Logger) {
        self.settings = settings
        self.logger = logger
        var configuration = PostgresClient.Configuration(
            host: settings.host, port: settings.port, username: settings.user, password: settings.password,
            database: settings.database, tls: .disable)
        configuration.options.maximumConnections = settings.poolSize
        configuration.options.connectTimeout = .milliseconds(Int64(settings.connectTimeoutSeconds * 1000))
        // The pool logs every failed connection attempt; the store reports failures itself (rate-limited).
        var background = logger
        background.logLevel = .critical
        let client = PostgresClient(configuration: configuration, backgroundLogger: background)
        self.client = client
        runTask = Task { await client.run() }
    }

    /// Connects, brings the schema up to date and returns the store; fails when PostgreSQL does not answer within
    /// the connect timeout (twice) or refuses.
    public static func open(
        settings: GatewayConfig.Log.Postgres, logger: Logger = Logger(label: "catimage.postgres")
    ) async throws -> PostgresDecisionLog {
        let store = PostgresDecisionLog(settings: settings, logger: logger)
        do {
            try await store.migrate()
        } catch {
            await store.stopClient()
            throw error
        }
        return store
    }

    // MARK: Schema

    /// Versioned migrations, applied in order under an advisory lock, recorded in `schema_migrations`.
    static let migrations: [(version: Int, name: String, statements: [String])] = [
        (
            1, "decisions",
            [
                """
                CREATE TABLE decisions (
                    id BIGSERIAL PRIMARY KEY,
                    time DOUBLE PRECISION NOT NULL,
                    request_id TEXT NOT NULL UNIQUE,
                    endpoint TEXT NOT NULL,
                    prompt TEXT NOT NULL,
                    chosen_generator TEXT NOT NULL,
                    served_by TEXT,
                    lambda DOUBLE PRECISION NOT NULL,
                    lambda_source TEXT NOT NULL,
                    predicted TEXT NOT NULL,
                    cost DOUBLE PRECISION,
                    backend TEXT,
                    attempts TEXT NOT NULL,
                    latency_ms DOUBLE PRECISION NOT NULL,
                    decision_ms DOUBLE PRECISION NOT NULL,
                    status INTEGER NOT NULL,
                    error TEXT
                )
                """
            ]
        ),
        (
            2, "propensity, exploration, router digest; feedback",
            [
                "ALTER TABLE decisions ADD COLUMN propensity DOUBLE PRECISION",
                "ALTER TABLE decisions ADD COLUMN explored INTEGER NOT NULL DEFAULT 0",
                "ALTER TABLE decisions ADD COLUMN router_digest TEXT",
                """
                CREATE TABLE feedback (id BIGSERIAL PRIMARY KEY, time DOUBLE PRECISION NOT NULL,
                    request_id TEXT NOT NULL, score DOUBLE PRECISION NOT NULL, metric TEXT, source TEXT)
                """,
                "CREATE INDEX feedback_request_id ON feedback(request_id)",
            ]
        ),
        (
            3, "fleet budget reports",
            [
                """
                CREATE TABLE budget_reports (
                    replica TEXT PRIMARY KEY,
                    updated_at TIMESTAMPTZ NOT NULL,
                    decisions BIGINT NOT NULL,
                    rate DOUBLE PRECISION NOT NULL,
                    realised_sum DOUBLE PRECISION NOT NULL,
                    realised_count BIGINT NOT NULL,
                    window_rows DOUBLE PRECISION[] NOT NULL,
                    generators INTEGER NOT NULL
                )
                """
            ]
        ),
    ]

    /// The schema version this code writes.
    public static var schemaVersion: Int { migrations.last?.version ?? 0 }

    private func migrate() async throws {
        let logger = self.logger
        try await deadline(settings.connectTimeoutSeconds * 2 + 5, "migrating the schema") { client in
            try await client.withConnection { connection in
                try await connection.withTransaction(logger: logger) { connection in
                    // Replicas starting together migrate one at a time.
                    try await connection.query("SELECT pg_advisory_xact_lock(7243100014)", logger: logger)
                    try await connection.query(
                        """
                        CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
                            applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                        """, logger: logger)
                    var applied = Set<Int>()
                    for try await version in try await connection.query(
                        "SELECT version FROM schema_migrations", logger: logger
                    ).decode(Int.self) {
                        applied.insert(version)
                    }
                    for migration in Self.migrations where !applied.contains(migration.version) {
                        for statement in migration.statements {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                        try await connection.query(
                            "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                            logger: logger)
                        logger.info(
                            "PostgreSQL decision log migrated",
                            metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                    }
                }
            }
        }
    }

    /// The versions recorded in `schema_migrations`, ascending.
    public func appliedMigrations() async throws -> [Int] {
        try await deadline(settings.connectTimeoutSeconds * 2, "reading schema_migrations") { client in
            var versions: [Int] = []
            for try await version in try await client.query("SELECT version FROM schema_migrations ORDER BY version")
                .decode(Int.self)
            {
                versions.append(version)
            }
            return versions
        }
    }

    // MARK: Writing

    /// Queues a record for the next batch; returns once it is committed, or at once while the store is degraded.
    public func append(_ record: DecisionRecord) async throws {
        enum Action {
            case wait, waitAndFlush, done, doneAndFlush, dropped
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let action = state.withLockedValue { state -> Action in
                if state.closed || state.pending.count >= settings.queueLimit {
                    state.dropped += 1
                    return .dropped
                }
                let startFlush = !state.isFlushing
                state.isFlushing = true
                if state.degraded {
                    state.pending.append(Pending(record: record, waiter: nil))
                    return startFlush ? .doneAndFlush : .done
                }
                let id = state.nextWaiter
                state.nextWaiter += 1
                state.waiters[id] = continuation
                state.pending.append(Pending(record: record, waiter: id))
                return startFlush ? .waitAndFlush : .wait
            }
            switch action {
            case .wait:
                break
            case .waitAndFlush:
                Task { await self.flush() }
            case .done:
                continuation.resume()
            case .doneAndFlush:
                continuation.resume()
                Task { await self.flush() }
            case .dropped:
                continuation.resume()
                warnDropped()
            }
        }
    }

    private func warnDropped() {
        let now = ContinuousClock.now
        let (warn, dropped) = state.withLockedValue { state -> (Bool, UInt64) in
            if let last = state.lastDropWarning, now - last < .seconds(5) { return (false, state.dropped) }
            state.lastDropWarning = now
            return (true, state.dropped)
        }
        if warn {
            logger.error(
                "PostgreSQL decision log queue full: dropping rows",
                metadata: ["dropped_total": "\(dropped)", "queue_limit": "\(settings.queueLimit)"])
        }
    }

    /// Resumes the given waiters (those still waiting); `degrade` marks the store degraded first.
    private func release(_ ids: [Int], degrade: Bool, committed: Bool) {
        let continuations = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            if degrade { state.degraded = true }
            let found = ids.compactMap { state.waiters.removeValue(forKey: $0) }
            if !committed { state.released += UInt64(found.count) }
            return found
        }
        for continuation in continuations { continuation.resume() }
    }

    /// Writes batches until the queue is empty; on failure requeues the batch and pauses with growing backoff.
    private func flush() async {
        var pause = 0.1
        while true {
            let batch = state.withLockedValue { state -> [Pending] in
                let count = min(state.pending.count, settings.batchSize)
                let batch = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                if batch.isEmpty { state.isFlushing = false }
                return batch
            }
            if batch.isEmpty { return }
            let waiters = batch.compactMap(\.waiter)
            let timeout = settings.writeTimeoutSeconds
            // A commit slower than the timeout releases its requests (and degrades the store) without ending the
            // write: it may still commit, and a retry of it then inserts nothing.
            let timer: Task<Void, Never>? =
                waiters.isEmpty
                ? nil
                : Task {
                    try? await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
                    if Task.isCancelled { return }
                    self.release(waiters, degrade: true, committed: false)
                }
            do {
                let query = try Self.insertQuery(batch.map(\.record))
                // Drained: the command's completion is the commit (autocommit).
                try await deadline(max(30, timeout), "writing \(batch.count) decision row(s)") { client in
                    for try await _ in try await client.query(query) {}
                }
                timer?.cancel()
                let recovered = state.withLockedValue { state -> Bool in
                    state.written += UInt64(batch.count)
                    guard state.degraded, state.pending.isEmpty else { return false }
                    state.degraded = false
                    return true
                }
                release(waiters, degrade: false, committed: true)
                if recovered { logger.notice("PostgreSQL decision log caught up; requests wait for commits again") }
                pause = 0.1
            } catch {
                timer?.cancel()
                let (queued, closed) = state.withLockedValue { state -> (Int, Bool) in
                    state.failedWrites += 1
                    state.degraded = true
                    // Requeue in front, without the waiters, keeping at most `queueLimit` rows (the oldest).
                    let room = max(0, settings.queueLimit - state.pending.count)
                    let kept = batch.prefix(room).map { Pending(record: $0.record, waiter: nil) }
                    state.dropped += UInt64(batch.count - kept.count)
                    state.pending.insert(contentsOf: kept, at: 0)
                    return (state.pending.count, state.closed)
                }
                release(waiters, degrade: true, committed: false)
                logger.warning(
                    "PostgreSQL decision log write failed; rows queued for retry",
                    metadata: [
                        "endpoint": "\(endpoint)", "queued": "\(queued)", "retry_in_s": "\(pause)",
                        "error": "\(Self.describe(error))",
                    ])
                if closed { return }
                try? await Task.sleep(for: .milliseconds(Int64(pause * 1000)))
                pause = min(pause * 2, 5)
            }
        }
    }

    static let decisionColumns = [
        "time", "request_id", "endpoint", "prompt", "chosen_generator", "served_by", "lambda", "lambda_source",
        "predicted", "cost", "backend", "attempts", "latency_ms", "decision_ms", "status", "error", "propensity",
        "explored", "router_digest",
    ]

    /// One multi-row INSERT; rows whose request ID is already stored are skipped.
    static func insertQuery(_ records: [DecisionRecord]) throws -> PostgresQuery {
        var bindings = PostgresBindings(capacity: records.count * decisionColumns.count)
        var sql = "INSERT INTO decisions (\(decisionColumns.joined(separator: ", "))) VALUES "
        var parameter = 0
        for (index, record) in records.enumerated() {
            let predicted = String(
                decoding: try JSONSerialization.data(withJSONObject: record.predicted, options: [.sortedKeys]),
                as: UTF8.self)
            let attempts = String(decoding: try JSONSerialization.data(withJSONObject: record.attempts), as: UTF8.self)
            bindings.append(record.time.timeIntervalSince1970)
            bindings.append(record.requestID)
            bindings.append(record.endpoint)
            bindings.append(record.prompt)
            bindings.append(record.chosenGenerator)
            bindings.append(record.servedBy)
            bindings.append(record.lambda)
            bindings.append(record.lambdaSource)
            bindings.append(predicted)
            bindings.append(record.cost)
            bindings.append(record.backend)
            bindings.append(attempts)
            bindings.append(record.latencyMilliseconds)
            bindings.append(record.decisionMilliseconds)
            bindings.append(Int32(clamping: record.status))
            bindings.append(record.error)
            bindings.append(record.propensity)
            bindings.append(Int32(record.explored ? 1 : 0))
            bindings.append(record.routerDigest)
            if index > 0 { sql += ", " }
            sql += "("
            for column in decisionColumns.indices {
                parameter += 1
                sql += column == 0 ? "$\(parameter)" : ", $\(parameter)"
            }
            sql += ")"
        }
        sql += " ON CONFLICT (request_id) DO NOTHING"
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }

    /// Writes one feedback row (directly, not batched).
    public func appendFeedback(_ feedback: FeedbackRecord) async throws {
        try await deadline(settings.writeTimeoutSeconds + settings.connectTimeoutSeconds, "writing feedback") {
            client in
            for try await _ in try await client.query(
                """
                INSERT INTO feedback (time, request_id, score, metric, source) VALUES (\(feedback.time.timeIntervalSince1970), \
                \(feedback.requestID), \(feedback.score), \(feedback.metric), \(feedback.source))
                """)
            {}
        }
    }

    /// Whether ``close()`` was called.
    public var isClosed: Bool { state.withLockedValue { $0.closed } }

    /// The fleet budget reporting through this store, for `/metrics`.
    let fleetBudget = NIOLockedValueBox<FleetBudget?>(nil)

    /// `/metrics` lines: queue, written, dropped, failed writes, degraded; and the fleet budget's.
    public func renderMetrics() -> String {
        let status = snapshot
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ value: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        metric(
            "catimage_decision_log_degraded", "gauge",
            "1 while PostgreSQL is down or slow: requests do not wait for their rows, which queue for retry.",
            status.degraded ? "1" : "0")
        metric("catimage_decision_log_queued", "gauge", "Decision rows waiting to be written.", "\(status.queued)")
        metric(
            "catimage_decision_log_written_total", "counter", "Decision rows committed to PostgreSQL.",
            "\(status.written)")
        metric(
            "catimage_decision_log_dropped_total", "counter",
            "Decision rows dropped: the queue was full while PostgreSQL was down or slow.", "\(status.dropped)")
        metric(
            "catimage_decision_log_failed_writes_total", "counter", "Batch writes that failed (retried).",
            "\(status.failedWrites)")
        metric(
            "catimage_decision_log_unconfirmed_total", "counter",
            "Rows whose response was sent before their commit (degraded store).", "\(status.released)")
        if let fleet = fleetBudget.withLockedValue({ $0 }) { out += fleet.renderMetrics() }
        return out
    }

    public var snapshot: Snapshot {
        state.withLockedValue {
            Snapshot(
                degraded: $0.degraded, queued: $0.pending.count, written: $0.written, dropped: $0.dropped,
                failedWrites: $0.failedWrites, released: $0.released)
        }
    }

    /// Waits up to `seconds` for the queue to drain, then stops the connection pool; rows still queued are counted
    /// as dropped and logged.
    public func close(waitingUpTo seconds: Double) async {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline, state.withLockedValue({ $0.isFlushing || !$0.pending.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let lost = state.withLockedValue { state -> Int in
            state.closed = true
            let lost = state.pending.count
            state.dropped += UInt64(lost)
            state.pending.removeAll()
            return lost
        }
        if lost > 0 {
            logger.error("PostgreSQL decision log closed with rows unwritten", metadata: ["rows": "\(lost)"])
        }
        await stopClient()
    }

    public func close() async { await close(waitingUpTo: 5) }

    private func stopClient() async {
        runTask.cancel()
        await runTask.value
    }

    // MARK: Reading

    /// Every record, oldest first.
    public func records() async throws -> [DecisionRecord] {
        var records: [DecisionRecord] = []
        _ = try await forEachRecord(where: "") { records.append($0) }
        return records
    }

    /// Streams the records matching `filter` (an SQL `WHERE` clause or empty), oldest first; returns how many.
    @discardableResult
    public func forEachRecord(
        where filter: String, _ body: (DecisionRecord) throws -> Void
    ) async throws -> Int {
        let sql =
            "SELECT \(Self.decisionColumns.joined(separator: ", ")) FROM decisions \(filter) ORDER BY id"
        let rows = try await deadline(settings.connectTimeoutSeconds * 2, "reading decisions") { client in
            try await client.query(PostgresQuery(unsafeSQL: sql))
        }
        var count = 0
        for try await row in rows {
            try body(try Self.record(from: row))
            count += 1
        }
        return count
    }

    static func record(from row: PostgresRow) throws -> DecisionRecord {
        let cells = row.makeRandomAccess()
        func decode<T: PostgresDecodable>(_ type: T.Type, _ column: String) throws -> T {
            try cells[column].decode(T.self)
        }
        let predictedText = try decode(String.self, "predicted")
        let attemptsText = try decode(String.self, "attempts")
        let predicted =
            (try? JSONSerialization.jsonObject(with: Data(predictedText.utf8))) as? [String: Double] ?? [:]
        let attempts = (try? JSONSerialization.jsonObject(with: Data(attemptsText.utf8))) as? [String] ?? []
        return DecisionRecord(
            time: Date(timeIntervalSince1970: try decode(Double.self, "time")),
            requestID: try decode(String.self, "request_id"), endpoint: try decode(String.self, "endpoint"),
            prompt: try decode(String.self, "prompt"), chosenGenerator: try decode(String.self, "chosen_generator"),
            servedBy: try decode(String?.self, "served_by"), lambda: try decode(Double.self, "lambda"),
            lambdaSource: try decode(String.self, "lambda_source"), predicted: predicted,
            cost: try decode(Double?.self, "cost"), backend: try decode(String?.self, "backend"), attempts: attempts,
            latencyMilliseconds: try decode(Double.self, "latency_ms"),
            decisionMilliseconds: try decode(Double.self, "decision_ms"), status: Int(try decode(Int32.self, "status")),
            error: try decode(String?.self, "error"), propensity: try decode(Double?.self, "propensity"),
            explored: try decode(Int32.self, "explored") == 1, routerDigest: try decode(String?.self, "router_digest"))
    }

    /// Every feedback row, oldest first.
    public func feedback() async throws -> [FeedbackRecord] {
        try await deadline(settings.connectTimeoutSeconds * 2, "reading feedback") { client in
            var rows: [FeedbackRecord] = []
            for try await (time, requestID, score, metric, source) in try await client.query(
                "SELECT time, request_id, score, metric, source FROM feedback ORDER BY id"
            ).decode((Double, String, Double, String?, String?).self) {
                rows.append(
                    FeedbackRecord(
                        time: Date(timeIntervalSince1970: time), requestID: requestID, score: score, metric: metric,
                        source: source))
            }
            return rows
        }
    }

    public func containsDecision(requestID: String) async throws -> Bool {
        try await deadline(settings.connectTimeoutSeconds * 2, "looking up a request ID") { client in
            for try await found in try await client.query(
                "SELECT EXISTS (SELECT 1 FROM decisions WHERE request_id = \(requestID))"
            ).decode(Bool.self) {
                return found
            }
            return false
        }
    }

    public func count() async throws -> Int {
        try await deadline(settings.connectTimeoutSeconds * 2, "counting decisions") { client in
            for try await count in try await client.query("SELECT COUNT(*) FROM decisions").decode(Int.self) {
                return count
            }
            return 0
        }
    }

    /// How many rows each request ID has (a fleet test checks that none has more than one).
    public func requestIDCounts() async throws -> [String: Int] {
        try await deadline(settings.connectTimeoutSeconds * 2, "reading request IDs") { client in
            var counts: [String: Int] = [:]
            for try await (id, count) in try await client.query(
                "SELECT request_id, COUNT(*) FROM decisions GROUP BY request_id"
            ).decode((String, Int).self) {
                counts[id] = count
            }
            return counts
        }
    }

    // MARK: Deadlines

    /// Runs `operation` against the client, failing with `unreachable` when it has not finished after `seconds`.
    ///
    /// A connection lease waits while the pool retries a server that is down, and a query on a hung server does not
    /// end on cancellation, so the deadline returns without waiting for the operation (which ends on its own).
    func deadline<T: Sendable>(
        _ seconds: Double, _ what: String, _ operation: @escaping @Sendable (PostgresClient) async throws -> T
    ) async throws -> T {
        let client = self.client
        let endpoint = self.endpoint
        let slot = NIOLockedValueBox<CheckedContinuation<T, any Error>?>(nil)
        let tasks = NIOLockedValueBox<[Task<Void, Never>]>([])
        let result = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            slot.withLockedValue { $0 = continuation }
            let work = Task {
                let outcome: Result<T, any Error>
                do {
                    outcome = .success(try await operation(client))
                } catch {
                    outcome = .failure(
                        PostgresStoreError(
                            code: .server, endpoint: endpoint, message: "\(what): \(Self.describe(error))"))
                }
                slot.withLockedValue { slot in
                    let waiting = slot
                    slot = nil
                    return waiting
                }?.resume(with: outcome)
            }
            let timer = Task {
                try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
                if Task.isCancelled { return }
                let waiting = slot.withLockedValue { slot in
                    let waiting = slot
                    slot = nil
                    return waiting
                }
                guard let waiting else { return }
                work.cancel()
                waiting.resume(
                    throwing: PostgresStoreError(
                        code: .unreachable, endpoint: endpoint,
                        message: "\(what): no answer within \(seconds) s (is the server running?)"))
            }
            tasks.withLockedValue { $0 = [work, timer] }
        }
        for task in tasks.withLockedValue({ $0 }) { task.cancel() }
        return result
    }

    /// The server's message for PostgreSQL errors (PSQLError's description hides it), else the error.
    static func describe(_ error: any Error) -> String {
        if let store = error as? PostgresStoreError { return store.message }
        if let psql = error as? PSQLError {
            if let message = psql.serverInfo?[.message] {
                let code = psql.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
                return message + code
            }
            return "\(psql.code)" + (psql.underlying.map { ": \($0)" } ?? "")
        }
        if let transaction = error as? PostgresTransactionError {
            return [transaction.beginError, transaction.closureError, transaction.commitError].compactMap { $0 }.map(
                describe
            ).joined(separator: "; ")
        }
        return "\(error)"
    }
}

extension PostgresDecisionLog {
    /// Opens an existing PostgreSQL log for `catimage log`: connects and checks the schema, without migrating.
    public static func openForReading(
        settings: GatewayConfig.Log.Postgres, logger: Logger = Logger(label: "catimage.postgres")
    ) async throws -> PostgresDecisionLog {
        let store = PostgresDecisionLog(settings: settings, logger: logger)
        do {
            let versions = try await store.appliedMigrations()
            guard versions.contains(1) else {
                throw PostgresStoreError(
                    code: .server, endpoint: store.endpoint,
                    message: "no catimage decision log (schema_migrations empty)")
            }
        } catch {
            await store.stopClient()
            throw error
        }
        return store
    }

    /// Settings from `postgres://user[:password]@host[:port]/database` (the password may also come from
    /// `PGPASSWORD`); `nil` when the text is not such a URL.
    public static func settings(
        url text: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> GatewayConfig.Log.Postgres? {
        guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? ""),
            let host = url.host, !host.isEmpty, let user = url.user, !user.isEmpty
        else { return nil }
        let database = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
        guard !database.isEmpty, !database.contains("/") else { return nil }
        var settings = GatewayConfig.Log.Postgres(database: database, user: user)
        settings.host = host
        settings.port = url.port ?? 5432
        settings.password = url.password ?? environment["PGPASSWORD"]
        return settings
    }

    /// Writes the log as ``DecisionLog``'s long CSV, streaming rows; returns the number of data rows.
    @discardableResult
    public func exportLongCSV(includeRouteDecisions: Bool = false, write: (String) throws -> Void) async throws -> Int {
        try write(DecisionLog.exportColumns.joined(separator: ",") + "\n")
        let filter =
            includeRouteDecisions
            ? "WHERE served_by IS NOT NULL OR endpoint = 'route'" : "WHERE served_by IS NOT NULL"
        let dates = ISO8601DateFormatter()
        return try await forEachRecord(where: filter) { try write(DecisionLog.exportLine($0, dates: dates)) }
    }
}
