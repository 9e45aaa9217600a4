import AsyncHTTPClient
import CATImageCollect
import CATImageGateway
import CATImageTestSupport
import Foundation
import GRDB
import Testing

struct ScoreRow: Equatable {
    var renderID: Int64
    var metric: String
    var value: Double?
    var status: String
    var error: String?
}

func scoreRows(_ collection: String) throws -> [ScoreRow] {
    try DatabaseQueue(path: collection + "/collection.sqlite").read { db in
        try Row.fetchAll(db, sql: "SELECT * FROM scores ORDER BY render_id, metric").map {
            ScoreRow(
                renderID: $0["render_id"], metric: $0["metric"], value: $0["value"], status: $0["status"],
                error: $0["error"])
        }
    }
}

/// Collects `prompts` × one stand-in A1111 generator × 1 sample, then runs `body` with a stand-in scorer's URL.
func withScoredCollection(
    prompts: Int, scorer: StandInScorer, _ body: @Sendable (CollectFixture, String, HTTPClient) async throws -> Void
) async throws {
    let generator = StandInGenerator(.a1111, quality: 40, perWord: 10)
    try await withLocalServers([generator.router(), scorer.router()]) { ports in
        let fixture = try CollectFixture(
            generators: [CollectFixture.a1111("sd", port: ports[0])], prompts: standInPrompts(prompts))
        defer { fixture.remove() }
        try await withClient { client in
            _ = try await fixture.collect(samples: 1, client: client)
            try await body(fixture, "http://127.0.0.1:\(ports[1])/score", client)
        }
    }
}

func scoring(
    _ fixture: CollectFixture, url: String, metric: String, client: HTTPClient, batch: Int = 4,
    retryFailed: Bool = false
) throws -> ScoringRun {
    var options = ScorerClient.Options()
    options.batchSize = batch
    options.concurrency = 2
    options.timeoutSeconds = 10
    options.retries = 1
    options.retryFailed = retryFailed
    return try ScoringRun(
        store: CollectionStore(existing: fixture.collection),
        scorer: ScorerClient(url: url, client: client, logger: quietLogger), metric: metric, options: options)
}

@Suite("score: the HTTP scorer protocol")
struct ScoreTests {
    @Test("scores every done render in batches, one row per metric; a rerun scores nothing again")
    func scoresEverything() async throws {
        let scorer = StandInScorer()
        try await withScoredCollection(prompts: 10, scorer: scorer) { fixture, url, client in
            let run = try scoring(fixture, url: url, metric: "clip", client: client)
            let jobs = try run.plan()
            #expect(jobs.count == 10)
            let result = try await run.run(jobs)
            #expect(result.done == 10 && result.failed.isEmpty)
            #expect(scorer.requestCount == 3, "10 images in batches of 4")
            // The stand-in scorer reads the red level the generator wrote: 40 + 10 per word, over 255.
            let rows = try scoreRows(fixture.collection)
            let export = try CollectionStore(existing: fixture.collection).export()
            #expect(export.header == ["prompt_id", "prompt", "generator", "sample", "cost", "clip", "rating"])
            for row in export.rows {
                let words = row[1].split(separator: " ").count
                let expected = Double(min(255, 40 + 10 * words)) / 255
                #expect(abs((Double(row[5]) ?? -1) - expected) < 1e-12, "\(row)")
            }
            let values = Set(rows.compactMap(\.value))
            #expect(values.count > 5 && values.allSatisfy { $0 > 0.15 && $0 <= 1 })
            #expect(try run.plan().isEmpty)

            // A second metric is its own set of rows.
            let second = try scoring(fixture, url: url, metric: "aesthetic", client: client)
            _ = try await second.run(try second.plan())
            #expect(try scoreRows(fixture.collection).count == 20)
        }
    }

    @Test(
        "a score that is text, NaN or missing is a failed row with a clear error, never a crash; retry-failed fills them",
        arguments: [
            (StandInScorer.Mode.textForEveryFifth, "not a number"),
            (StandInScorer.Mode.nanForEverySeventh, "not a finite number"),
            (StandInScorer.Mode.dropEveryThird, "no score for id"),
            (StandInScorer.Mode.broken, "HTTP 500"),
        ])
    func badAnswers(mode: StandInScorer.Mode, message: String) async throws {
        let scorer = StandInScorer(mode)
        try await withScoredCollection(prompts: 15, scorer: scorer) { fixture, url, client in
            let run = try scoring(fixture, url: url, metric: "clip", client: client)
            let result = try await run.run(try run.plan())
            let rows = try scoreRows(fixture.collection)
            #expect(rows.count == 15)
            let failed = rows.filter { $0.status == "failed" }
            #expect(!failed.isEmpty && failed.count == result.failed.count)
            #expect(failed.allSatisfy { $0.value == nil && ($0.error ?? "").contains(message) }, "\(failed)")
            #expect(rows.filter { $0.status == "done" }.allSatisfy { ($0.value ?? .nan).isFinite })
            let good = rows.filter { $0.status == "done" }

            // Without retry-failed nothing is redone; with it, the failed rows are scored and the done ones kept.
            scorer.mode = .good
            #expect(try run.plan().isEmpty)
            let retry = try scoring(fixture, url: url, metric: "clip", client: client, retryFailed: true)
            #expect(try retry.plan().count == failed.count)
            _ = try await retry.run(try retry.plan())
            let after = try scoreRows(fixture.collection)
            #expect(after.allSatisfy { $0.status == "done" })
            for row in good { #expect(after.contains(row)) }
        }
    }

    @Test("a metric name that would clash with an export column is refused")
    func reservedMetric() async throws {
        try await withScoredCollection(prompts: 1, scorer: StandInScorer()) { fixture, url, client in
            for name in ["cost", "rating", "", "1clip", "clip score"] {
                #expect(throws: CollectionError.self) { try scoring(fixture, url: url, metric: name, client: client) }
            }
        }
    }
}
