import CATImageGateway
import CATImageTestSupport
import Foundation
import Testing

@Suite("catimage log export/summary read the PostgreSQL log (--postgres URL, --config)", .serialized)
struct LogCommandPostgresTests {
    /// A fresh database on `$CATIMAGE_TEST_POSTGRES` holding two image decisions and one route decision.
    static func filledDatabase() async throws -> GatewayConfig.Log.Postgres {
        let database = try await TestPostgres.createDatabase(prefix: "catimage_cli_")
        var settings = GatewayConfig.Log.Postgres(database: database.name, user: TestPostgres.user)
        settings.host = database.host
        settings.port = database.port
        let store = try await PostgresDecisionLog.open(settings: settings)
        for (index, endpoint) in ["images", "images", "route"].enumerated() {
            try await store.append(
                DecisionRecord(
                    time: Date(timeIntervalSince1970: 1_790_000_000 + Double(index)), requestID: "cli-\(index)",
                    endpoint: endpoint, prompt: "prompt \(index)", chosenGenerator: "SD-Turbo",
                    servedBy: endpoint == "images" ? "SD-Turbo" : nil, lambda: 0.5, lambdaSource: "controller",
                    predicted: ["SD-Turbo": 30], cost: 1, latencyMilliseconds: 5, decisionMilliseconds: 2,
                    status: 200))
        }
        await store.close()
        return settings
    }

    @Test("log export --postgres writes the long CSV; --include-route-decisions adds the route rows")
    func exportFromURL() async throws {
        let settings = try await Self.filledDatabase()
        let url = "postgres://catimage@\(settings.host):\(settings.port)/\(settings.database)"
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("pg-\(UUID().uuidString).csv").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let run = try await runCatimage(["log", "export", "--postgres", url, "-o", output])
        #expect(run.status == 0, "\(run.message)")
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.first.map(String.init) == DecisionLog.exportColumns.joined(separator: ","))
        let all = try await runCatimage(["log", "export", "--postgres", url, "--include-route-decisions"])
        #expect(all.output.split(separator: "\n").filter { $0.contains(",cli-") }.count == 3)
    }

    @Test("log summary --config reads the store the gateway config names")
    func summaryFromConfig() async throws {
        let settings = try await Self.filledDatabase()
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("pg-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: config) }
        try """
        router: r.catimage
        log: {postgres: {host: \(settings.host), port: \(settings.port), database: \(settings.database), user: catimage}}
        generators:
          SD-Turbo: {backend: a1111, base_url: "http://127.0.0.1:1"}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let run = try await runCatimage(["log", "summary", "--config", config, "--json"])
        #expect(run.status == 0, "\(run.message)")
        let start = try #require(run.output.firstIndex(of: "["))
        let end = try #require(run.output.lastIndex(of: "]"))
        let lines = try #require(
            try JSONSerialization.jsonObject(with: Data(run.output[start...end].utf8)) as? [[String: Any]])
        #expect(lines.compactMap { $0["rows"] as? Int }.reduce(0, +) == 3)
        #expect(Set(lines.compactMap { $0["endpoint"] as? String }) == ["images", "route"])
    }

    @Test("log export needs exactly one of --db, --config and --postgres")
    func oneStore() async throws {
        let none = try await runCatimage(["log", "export"])
        #expect(none.status != 0 && none.message.contains("--postgres"))
        let bad = try await runCatimage(["log", "export", "--postgres", "mysql://x@y/z"])
        #expect(bad.status != 0 && bad.message.contains("postgres://"))
    }
}
