import CATImageTestSupport
import Foundation
import PostgresNIO
import Testing

@testable import CATImageGateway

@Suite("PostgreSQL decision log: config, migrations, batching, exactly-once")
struct PostgresDecisionLogTests {
    static func record(_ id: String, prompt: String = "a red car", status: Int = 200) -> DecisionRecord {
        DecisionRecord(
            time: Date(timeIntervalSince1970: 1_790_000_000.25), requestID: id, endpoint: "images", prompt: prompt,
            chosenGenerator: "SDXL-Turbo", servedBy: "SD-Turbo", lambda: 0.75, lambdaSource: "controller",
            predicted: ["SDXL-Turbo": 31.5, "SD-Turbo": 30.25], cost: 1.5, backend: "a1111 http://127.0.0.1:7860",
            attempts: ["SDXL-Turbo attempt 1/2: timeout"], latencyMilliseconds: 12.5, decisionMilliseconds: 4.25,
            status: status, error: status == 200 ? nil : "all generators failed", propensity: 0.9, explored: true,
            routerDigest: "ab12")
    }

    @Test("log.postgres parses with its defaults and the password from the environment")
    func configParses() throws {
        let config = try GatewayConfig.parse(
            yaml: ConfigFixture.minimal + """

                log:
                  postgres: {host: db.internal, port: 6432, database: catimage, user: gateway, password_env: PGPASS,
                             pool_size: 8, fleet_budget: true, replica: a}
                """, environment: ["PGPASS": "secret"])
        let settings = try #require(config.log.postgres)
        #expect(config.log.path == nil)
        #expect(settings.host == "db.internal" && settings.port == 6432)
        #expect(settings.database == "catimage" && settings.user == "gateway" && settings.password == "secret")
        #expect(settings.poolSize == 8 && settings.fleetBudget && settings.replica == "a")
        #expect(settings.writeTimeoutSeconds == 1 && settings.queueLimit == 100_000 && settings.batchSize == 500)
    }

    @Test(
        "log.postgres errors name the key and say what is wrong",
        arguments: [
            ("log: {path: d.sqlite, postgres: {database: c, user: u}}", "log", "not both"),
            ("log: {postgres: {user: u}}", "log.postgres.database", "missing required key"),
            ("log: {postgres: {database: c, user: u, password_env: NOPE}}", "log.postgres.password_env", "not set"),
            ("log: {postgres: {database: c, user: u, pool_size: 0}}", "log.postgres.pool_size", "between"),
            ("log: {postgres: {database: c, user: u, hots: x}}", "log.postgres.hots", "unknown key"),
            (
                "log: {postgres: {database: c, user: u, fleet_budget: maybe}}", "log.postgres.fleet_budget",
                "true or false"
            ),
        ])
    func configErrors(yaml: String, key: String, fragment: String) {
        do {
            _ = try GatewayConfig.parse(yaml: ConfigFixture.minimal + "\n" + yaml, file: "g.yaml")
            Issue.record("expected an error for \(yaml)")
        } catch {
            #expect(error.key == key, "\(error)")
            #expect(error.description.contains(fragment), "\(error)")
        }
    }

    @Test("a postgres:// URL gives the settings `catimage log --postgres` connects with")
    func urlSettings() throws {
        let settings = try #require(
            PostgresDecisionLog.settings(url: "postgres://gw:pw@10.0.0.5:6543/logs", environment: [:]))
        #expect(settings.host == "10.0.0.5" && settings.port == 6543 && settings.user == "gw")
        #expect(settings.password == "pw" && settings.database == "logs")
        #expect(
            PostgresDecisionLog.settings(url: "postgres://gw@h/logs", environment: ["PGPASSWORD": "x"])?.password == "x"
        )
        #expect(PostgresDecisionLog.settings(url: "http://gw@h/logs") == nil)
        #expect(PostgresDecisionLog.settings(url: "postgres://h/logs") == nil)
    }

    @Test("start-up migrates an empty database to the latest version once; reopening applies nothing and keeps rows")
    func migrations() async throws {
        let settings = try await TestPostgres.freshDatabase()
        let first = try await PostgresDecisionLog.open(settings: settings, logger: TestPostgres.logger)
        #expect(try await first.appliedMigrations() == [1, 2, 3])
        try await first.append(Self.record("m-1"))
        await first.close()
        // Two replicas starting together: the advisory lock serialises them, neither fails.
        async let a = PostgresDecisionLog.open(settings: settings, logger: TestPostgres.logger)
        async let b = PostgresDecisionLog.open(settings: settings, logger: TestPostgres.logger)
        let (second, third) = try await (a, b)
        #expect(try await second.appliedMigrations() == [1, 2, 3])
        #expect(try await second.count() == 1)
        await second.close()
        await third.close()
    }

    @Test("every field of decisions and feedback reads back as written")
    func roundTrip() async throws {
        let settings = try await TestPostgres.freshDatabase()
        let store = try await PostgresDecisionLog.open(settings: settings, logger: TestPostgres.logger)
        let written = [
            Self.record("r-1"),
            DecisionRecord(
                time: Date(timeIntervalSince1970: 1_790_000_001), requestID: "r-2", endpoint: "route",
                prompt: "naïve, \"quoted\"\nprompt", chosenGenerator: "TAESD", lambda: 0, lambdaSource: "request",
                predicted: ["TAESD": 29], cost: nil, latencyMilliseconds: 1, decisionMilliseconds: 0.5, status: 200),
        ]
        for record in written { try await store.append(record) }
        let feedback = FeedbackRecord(
            time: Date(timeIntervalSince1970: 1_790_000_002), requestID: "r-1", score: 0.8, metric: "clip",
            source: "user")
        try await store.appendFeedback(feedback)
        try await store.appendFeedback(FeedbackRecord(time: feedback.time, requestID: "r-2", score: 3))
        #expect(try await store.records() == written)
        #expect(
            try await store.feedback() == [
                feedback, FeedbackRecord(time: feedback.time, requestID: "r-2", score: 3),
            ])
        #expect(try await store.containsDecision(requestID: "r-2"))
        #expect(try await !store.containsDecision(requestID: "r-3"))
        var csv = ""
        #expect(try await store.exportLongCSV(includeRouteDecisions: true) { csv += $0 } == 2)
        #expect(csv.hasPrefix(DecisionLog.exportColumns.joined(separator: ",") + "\n"))
        #expect(csv.contains("\"naïve, \"\"quoted\"\"\nprompt\""))
        await store.close()
    }

    @Test("a batch written twice (a retry after a lost acknowledgement) stores each request ID once")
    func retriedBatchDoesNotDuplicate() async throws {
        let settings = try await TestPostgres.freshDatabase()
        let store = try await PostgresDecisionLog.open(settings: settings, logger: TestPostgres.logger)
        let batch = (0..<50).map { Self.record("dup-\($0)") }
        for _ in 0..<2 {
            try await store.client.query(try PostgresDecisionLog.insertQuery(batch))
        }
        try await store.append(Self.record("dup-7"))
        #expect(try await store.count() == 50)
        #expect(try await store.requestIDCounts().values.allSatisfy { $0 == 1 })
        await store.close()
    }

    @Test("concurrent appends are committed in multi-row batches and each returns after its commit")
    func groupCommit() async throws {
        var settings = try await TestPostgres.freshDatabase()
        // Generous: on a loaded machine no commit outlasts it, so every append waits for its commit.
        settings.writeTimeoutSeconds = 30
        let store = try await PostgresDecisionLog.open(settings: settings, logger: TestPostgres.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<400 {
                group.addTask {
                    try await store.append(Self.record("g-\(index)"))
                    // Returned: the row is committed, so a second connection sees it.
                    if index % 40 == 0 {
                        #expect(try await store.containsDecision(requestID: "g-\(index)"))
                    }
                }
            }
            try await group.waitForAll()
        }
        let snapshot = store.snapshot
        #expect(try await store.count() == 400)
        #expect(snapshot.written == 400 && snapshot.dropped == 0 && snapshot.released == 0 && !snapshot.degraded)
        #expect(snapshot.failedWrites == 0)
        await store.close()
    }

    @Test("an unreachable server fails start-up with a message naming it, within the connect timeout")
    func unreachable() async throws {
        var settings = GatewayConfig.Log.Postgres(database: "catimage", user: "catimage")
        settings.port = try closedPort()
        settings.connectTimeoutSeconds = 0.5
        do {
            _ = try await PostgresDecisionLog.open(settings: settings, logger: TestPostgres.logger)
            Issue.record("opened a store on a closed port")
        } catch let error as PostgresStoreError {
            #expect(error.endpoint == "127.0.0.1:\(settings.port)/catimage")
            #expect(error.code == .unreachable)
        }
    }
}
