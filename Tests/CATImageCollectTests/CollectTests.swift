import AsyncHTTPClient
import CATImageCollect
import CATImageEncoder
import CATImageTestSupport
import Foundation
import GRDB
import Testing

/// Every row of `renders` as the test reads it straight from SQLite.
struct ManifestRow: Equatable {
    var promptID: String
    var generator: String
    var sample: Int
    var seed: Int?
    var status: String
    var imageHash: String?
    var cost: Double?
    var backendSeconds: Double?
    var error: String?
    var finishedAt: String
}

func manifest(_ collection: String) throws -> [ManifestRow] {
    let queue = try DatabaseQueue(path: collection + "/collection.sqlite")
    return try queue.read { db in
        try Row.fetchAll(db, sql: "SELECT * FROM renders ORDER BY prompt_id, generator, sample").map {
            ManifestRow(
                promptID: $0["prompt_id"], generator: $0["generator"], sample: $0["sample"], seed: $0["seed"],
                status: $0["status"], imageHash: $0["image_hash"], cost: $0["cost"],
                backendSeconds: $0["backend_seconds"], error: $0["error"], finishedAt: $0["finished_at"])
        }
    }
}

/// Every done row's image exists, is a valid PNG and is named by the SHA-256 of its bytes.
func checkImages(_ collection: String, _ rows: [ManifestRow]) {
    for row in rows where row.status == "done" {
        guard let hash = row.imageHash else {
            Issue.record("done row without an image hash: \(row)")
            continue
        }
        let data = FileManager.default.contents(atPath: "\(collection)/images/\(hash).png")
        #expect(data != nil, "missing image file for \(row.promptID) \(row.generator) \(row.sample)")
        if let data {
            #expect(SHA256.hexDigest(of: data) == hash)
            #expect(PNGBytes.isValid([UInt8](data)))
        }
    }
}

@Suite("collect: rendering prompts with the gateway's backends into a collection folder")
struct CollectTests {
    @Test("renders every prompt × generator × sample as content-hashed PNGs, records seeds, cost and backend time")
    func rendersEverything() async throws {
        let fast = StandInGenerator(.a1111, quality: 60, perWord: 10)
        let slow = StandInGenerator(.a1111, quality: 150, perWord: 2)
        let hosted = StandInGenerator(.openAI, quality: 100, perWord: 5)
        slow.behaviour.delay = 0.02
        try await withLocalServers([fast.router(), slow.router(), hosted.router()]) { ports in
            let fixture = try CollectFixture(
                generators: [
                    CollectFixture.a1111("fast", port: ports[0], steps: 4, concurrency: 2),
                    CollectFixture.a1111("slow", port: ports[1], steps: 30),
                    CollectFixture.openAI("hosted", port: ports[2]),
                ], prompts: standInPrompts(4))
            defer { fixture.remove() }
            let (session, result) = try await withClient { client in
                try await fixture.collect(samples: 2, client: client)
            }
            #expect(session.plan.jobs.count == 24)
            #expect(result.failed.isEmpty)
            #expect(result.done == ["fast": 8, "slow": 8, "hosted": 8])
            let rows = try manifest(fixture.collection)
            #expect(rows.count == 24 && rows.allSatisfy { $0.status == "done" && ($0.cost ?? -1) > 0 })
            checkImages(fixture.collection, rows)
            #expect(Set(rows.compactMap(\.imageHash)).count == 24, "every render has its own bytes")
            // A1111 gets the recorded seed and the config's options; OpenAI-style rows record the sample index.
            let sent = fast.requests
            #expect(sent.count == 8 && sent.allSatisfy { $0["steps"] as? Int == 4 && $0["width"] as? Int == 8 })
            let fastSeeds = Set(rows.filter { $0.generator == "fast" }.compactMap(\.seed))
            #expect(Set(sent.compactMap { $0["seed"] as? Int }) == fastSeeds && fastSeeds.count == 8)
            #expect(
                rows.filter { $0.generator == "hosted" }.map(\.seed)
                    == Array(repeating: [0, 1], count: 4).flatMap { $0 })
            #expect(
                hosted.requests.allSatisfy { $0["model"] as? String == "stand-in-1" && $0["size"] as? String == "8x8" })
            #expect(rows.filter { $0.generator == "slow" }.allSatisfy { ($0.backendSeconds ?? 0) > 0.01 })

            // A rerun does nothing: the folder is complete.
            let again = try await withClient { client in try await fixture.collect(samples: 2, client: client) }
            #expect(again.0.plan.jobs.isEmpty)
            #expect(try manifest(fixture.collection) == rows)
            #expect(fast.requests.count == 8)
        }
    }

    @Test("a backend answering 500 never stops the others; its failures are kept and redone only with retry-failed")
    func failingBackendIsIsolated() async throws {
        let good = StandInGenerator(.a1111, quality: 90)
        let broken = StandInGenerator(.openAI, quality: 90)
        broken.behaviour.alwaysStatus = 500
        try await withLocalServers([good.router(), broken.router()]) { ports in
            let fixture = try CollectFixture(
                generators: [
                    CollectFixture.a1111("good", port: ports[0]), CollectFixture.openAI("broken", port: ports[1]),
                ], prompts: standInPrompts(5))
            defer { fixture.remove() }
            let (_, result) = try await withClient { client in try await fixture.collect(samples: 1, client: client) }
            #expect(result.done["good"] == 5)
            #expect(result.failed.count == 5 && result.failed.allSatisfy { $0.key.generator == "broken" })
            #expect(result.failed.allSatisfy { $0.error.contains("HTTP 500") && $0.error.contains("attempt 2") })
            #expect(broken.requests.count == 10, "one retry per render (the generator's retries: 1)")
            let before = try manifest(fixture.collection)

            // Without --retry-failed a rerun leaves the failed rows alone.
            broken.behaviour.alwaysStatus = nil
            let rerun = try await withClient { client in try await fixture.collect(samples: 1, client: client) }
            #expect(rerun.0.plan.jobs.isEmpty && broken.requests.count == 10)
            // With it, they are rendered; the done rows are untouched.
            let retried = try await withClient { client in
                try await fixture.collect(samples: 1, retryFailed: true, client: client)
            }
            #expect(retried.1.done["broken"] == 5 && retried.1.failed.isEmpty)
            let after = try manifest(fixture.collection)
            #expect(after.filter { $0.generator == "good" } == before.filter { $0.generator == "good" })
            #expect(after.allSatisfy { $0.status == "done" && $0.error == nil })
            checkImages(fixture.collection, after)
        }
    }

    @Test("a backend answering with bytes that are not a PNG gives failed rows saying so, and no image file")
    func nonPNGIsFailedRow() async throws {
        let liar = StandInGenerator(.a1111, quality: 90, behaviour: .init(notPNG: true))
        try await withLocalServers([liar.router()]) { ports in
            let fixture = try CollectFixture(
                generators: [CollectFixture.a1111("liar", port: ports[0])], prompts: standInPrompts(3))
            defer { fixture.remove() }
            let (_, result) = try await withClient { client in try await fixture.collect(samples: 1, client: client) }
            #expect(result.failed.count == 3)
            #expect(result.failed.allSatisfy { $0.error.contains("not base64-encoded PNG") })
            #expect(
                liar.requests.count == 3,
                "an invalid answer is not retried; failed rows: \(result.failed.map(\.error))")
            let files = try FileManager.default.contentsOfDirectory(atPath: fixture.collection + "/images")
            #expect(files.isEmpty)
        }
    }

    @Test("an unknown generator name is refused, naming the generators the config has")
    func unknownGenerator() async throws {
        let fixture = try CollectFixture(
            generators: [CollectFixture.a1111("sdxl-4", port: 9), CollectFixture.openAI("hosted", port: 9)],
            prompts: ["a cat"])
        defer { fixture.remove() }
        try await withClient { client in
            let error = #expect(throws: CollectionError.self) {
                try CollectSession.prepare(
                    fixture.request(samples: 1, generators: ["sdxl-4", "sdxl-8"]), client: client, logger: quietLogger)
            }
            #expect(error?.code == .unknownGenerator && error?.value == "sdxl-8")
            #expect(error?.description.contains("hosted, sdxl-4") == true)
            #expect(!FileManager.default.fileExists(atPath: fixture.collection), "nothing is created")
        }
    }

    @Test("a folder collected with a different generators section is refused and keeps every row")
    func differentConfigIsRefused() async throws {
        let server = StandInGenerator(.a1111, quality: 90)
        try await withLocalServers([server.router()]) { ports in
            let fixture = try CollectFixture(
                generators: [CollectFixture.a1111("sd", port: ports[0], steps: 8)], prompts: standInPrompts(3))
            defer { fixture.remove() }
            _ = try await withClient { client in try await fixture.collect(samples: 1, client: client) }
            let before = try manifest(fixture.collection)
            #expect(before.count == 3)

            // Tuning limits (concurrency, retries, URL) keeps the folder usable...
            try CollectFixture.writeConfig(
                [CollectFixture.a1111("sd", port: ports[0], steps: 8, concurrency: 3, retries: 4)],
                to: fixture.configPath)
            let tuned = try await withClient { client in try await fixture.collect(samples: 1, client: client) }
            #expect(tuned.0.plan.jobs.isEmpty)
            // ...changing what decides the images does not.
            try CollectFixture.writeConfig(
                [CollectFixture.a1111("sd", port: ports[0], steps: 30)], to: fixture.configPath)
            try await withClient { client in
                let error = await #expect(throws: CollectionError.self) {
                    try await fixture.collect(samples: 1, client: client)
                }
                #expect(error?.code == .configMismatch && error?.value == "sd")
                #expect(error?.description.contains("different generators section") == true)
            }
            #expect(try manifest(fixture.collection) == before)
            checkImages(fixture.collection, before)
        }
    }

    @Test("a --cost-table replaces the measured seconds per generator")
    func costTableOverrides() async throws {
        let server = StandInGenerator(.a1111, quality: 90)
        try await withLocalServers([server.router()]) { ports in
            let fixture = try CollectFixture(
                generators: [CollectFixture.a1111("sd", port: ports[0])], prompts: standInPrompts(2))
            defer { fixture.remove() }
            let table = fixture.directory + "/costs.csv"
            try "generator,cost\nsd,0.04\n".write(toFile: table, atomically: true, encoding: .utf8)
            var request = fixture.request(samples: 1)
            request.costTablePath = table
            try await withClient { client in
                let session = try CollectSession.prepare(request, client: client, logger: quietLogger)
                _ = try await session.collector.run(session.plan)
            }
            #expect(try manifest(fixture.collection).map(\.cost) == [0.04, 0.04])

            try "generator,cost\nsdxl,0.04\n".write(toFile: table, atomically: true, encoding: .utf8)
            try await withClient { client in
                let error = #expect(throws: CollectionError.self) {
                    try CollectSession.prepare(request, client: client, logger: quietLogger)
                }
                #expect(error?.code == .invalidCostTable && error?.line == 2 && error?.value == "sdxl")
            }
        }
    }

    @Test("--dry-run plans and probes without creating or changing the folder")
    func dryRun() async throws {
        let fast = StandInGenerator(.a1111, quality: 90)
        let hosted = StandInGenerator(.openAI, quality: 90)
        try await withLocalServers([fast.router(), hosted.router()]) { ports in
            let fixture = try CollectFixture(
                generators: [
                    CollectFixture.a1111("fast", port: ports[0]), CollectFixture.openAI("hosted", port: ports[1]),
                ], prompts: standInPrompts(5))
            defer { fixture.remove() }
            try await withClient { client in
                let session = try CollectSession.prepare(
                    fixture.request(samples: 3), dryRun: true, client: client, logger: quietLogger)
                #expect(session.plan.jobs.count == 30)
                #expect(session.plan.lines.map(\.toDo) == [15, 15])
                let estimate = await session.estimate(probes: 2)
                #expect(Set(estimate.secondsPerImage.keys) == ["fast", "hosted"] && estimate.unreachable.isEmpty)
                #expect(estimate.totalSeconds > 0)
                #expect(fast.requests.count == 2 && hosted.requests.count == 2)
            }
            #expect(!FileManager.default.fileExists(atPath: fixture.collection))

            // On an existing folder the plan counts what is there and still changes nothing.
            _ = try await withClient { client in try await fixture.collect(samples: 1, client: client) }
            let before = try manifest(fixture.collection)
            try await withClient { client in
                let session = try CollectSession.prepare(
                    fixture.request(samples: 3), dryRun: true, client: client, logger: quietLogger)
                #expect(session.plan.lines.map(\.done) == [5, 5] && session.plan.jobs.count == 20)
            }
            #expect(try manifest(fixture.collection) == before)
        }
    }
}
