import CATImageCollect
import CATImageTestSupport
import Foundation
import GRDB
import Testing

/// Starts `catimage collect` as a child process and SIGKILLs it once `rows` rows are committed.
func collectChildKilled(fixture: CollectFixture, samples: Int, afterRows rows: Int) async throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try catimageBinary())
    process.arguments = [
        "collect", "--config", fixture.configPath, "--prompts", fixture.promptsPath, "--samples", "\(samples)",
        "--out", fixture.collection,
    ]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    let database = fixture.collection + "/collection.sqlite"
    // Bounded wait (60 s) for the child to commit enough rows, then kill it mid-run.
    for _ in 0..<1200 {
        if let count = renderCount(database), count >= rows { break }
        if !process.isRunning { break }
        try await Task.sleep(for: .milliseconds(50))
    }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    return process.terminationStatus
}

/// Rows in `renders`, read through a read-only connection while the child writes; `nil` before the table exists.
func renderCount(_ database: String) -> Int? {
    guard FileManager.default.fileExists(atPath: database) else { return nil }
    var configuration = Configuration()
    configuration.readonly = true
    return try? DatabaseQueue(path: database, configuration: configuration).read { db in
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM renders")
    }
}

@Suite("collect survives kill -9", .serialized)
struct DurabilityTests {
    @Test("kill -9 of a child `catimage collect` keeps every committed row and its file; a rerun does only the rest")
    func killNine() async throws {
        let servers = (0..<2).map { _ in StandInGenerator(.a1111, quality: 100, behaviour: .init(delay: 0.03)) }
        let hosted = StandInGenerator(.openAI, quality: 100, behaviour: .init(delay: 0.03))
        try await withLocalServers(servers.map { $0.router() } + [hosted.router()]) { ports in
            let fixture = try CollectFixture(
                generators: [
                    CollectFixture.a1111("a", port: ports[0], concurrency: 2),
                    CollectFixture.a1111("b", port: ports[1], concurrency: 2),
                    CollectFixture.openAI("c", port: ports[2], concurrency: 2),
                ], prompts: standInPrompts(40))
            defer { fixture.remove() }
            let status = try await collectChildKilled(fixture: fixture, samples: 2, afterRows: 60)
            #expect(status == SIGKILL, "the child was killed mid-run, not finished (status \(status))")
            let survived = try manifest(fixture.collection)
            #expect(survived.count >= 60 && survived.count < 240, "killed mid-run: \(survived.count) rows")
            checkImages(fixture.collection, survived)
            // Requests the killed child had in flight can still reach the stand-ins after it died (seen on a loaded
            // CI machine): count them once the total has held still for a second.
            func requestTotal() -> Int { servers.map(\.requests.count).reduce(0, +) + hosted.requests.count }
            var requestsBefore = requestTotal()
            for _ in 0..<30 {
                try await Task.sleep(for: .seconds(1))
                let now = requestTotal()
                if now == requestsBefore { break }
                requestsBefore = now
            }

            // The rerun renders only what is missing and leaves every committed row as it was.
            let (session, result) = try await withClient { client in
                try await fixture.collect(samples: 2, client: client)
            }
            #expect(session.plan.jobs.count == 240 - survived.count)
            #expect(result.failed.isEmpty)
            let after = try manifest(fixture.collection)
            #expect(after.count == 240 && after.allSatisfy { $0.status == "done" })
            let byKey = Dictionary(
                uniqueKeysWithValues: after.map { ("\($0.promptID)/\($0.generator)/\($0.sample)", $0) })
            for row in survived { #expect(byKey["\(row.promptID)/\(row.generator)/\(row.sample)"] == row) }
            checkImages(fixture.collection, after)
            let requestsAfter = requestTotal()
            #expect(requestsAfter - requestsBefore == 240 - survived.count)
        }
    }
}
