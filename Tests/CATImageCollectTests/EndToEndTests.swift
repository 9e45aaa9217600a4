import AsyncHTTPClient
import CATImage
import CATImageCollect
import CATImageCore
import CATImageTestSupport
import Foundation
import Testing

@Suite("collect → score → export → train → route on stand-in servers", .serialized)
struct EndToEndTests {
    @Test("30 prompts × 3 generators × 2 samples, killed once and resumed, scored, exported, trained on, routed")
    func wholeLoop() async throws {
        let modelDirectory = try miniLMDirectory()
        let turbo = StandInGenerator(.a1111, quality: 60, perWord: 14, behaviour: .init(delay: 0.01, failureRate: 0.05))
        let sdxl = StandInGenerator(.a1111, quality: 150, perWord: 4, behaviour: .init(delay: 0.04))
        let hosted = StandInGenerator(.openAI, quality: 110, perWord: 8, behaviour: .init(delay: 0.02))
        let scorer = StandInScorer()
        try await withLocalServers([turbo.router(), sdxl.router(), hosted.router(), scorer.router()]) { ports in
            let fixture = try CollectFixture(
                generators: [
                    CollectFixture.a1111("turbo", port: ports[0], steps: 4, concurrency: 2, retries: 0),
                    CollectFixture.a1111("sdxl", port: ports[1], steps: 30, concurrency: 2),
                    CollectFixture.openAI("hosted", port: ports[2], concurrency: 2),
                ], prompts: standInPrompts(30))
            defer { fixture.remove() }

            // 1. A child `catimage collect` killed with SIGKILL part-way.
            let status = try await collectChildKilled(fixture: fixture, samples: 2, afterRows: 50)
            #expect(status == SIGKILL)
            let interrupted = try manifest(fixture.collection)
            #expect(interrupted.count >= 50 && interrupted.count < 180)

            // 2. Resumed in this process; turbo fails 5% of requests without retries, so a --retry-failed pass
            // finishes it.
            try await withClient { client in
                let (session, _) = try await fixture.collect(samples: 2, client: client)
                #expect(session.plan.jobs.count == 180 - interrupted.count)
                var rows = try manifest(fixture.collection)
                #expect(rows.count == 180)
                #expect(rows.contains { $0.status == "failed" }, "turbo's 5% failures leave failed rows to redo")
                for _ in 0..<3 where rows.contains(where: { $0.status == "failed" }) {
                    let failed = rows.filter { $0.status == "failed" }
                    #expect(failed.allSatisfy { $0.generator == "turbo" && ($0.error ?? "").contains("HTTP 500") })
                    _ = try await fixture.collect(samples: 2, retryFailed: true, client: client)
                    rows = try manifest(fixture.collection)
                }
                #expect(rows.allSatisfy { $0.status == "done" })
                checkImages(fixture.collection, rows)

                // 3. Scored by the stand-in scorer.
                let run = try scoring(
                    fixture, url: "http://127.0.0.1:\(ports[3])/score", metric: "clip", client: client)
                let scored = try await run.run(try run.plan())
                #expect(scored.done == 180 && scored.failed.isEmpty)
            }

            // 4. Exported and read back by the same loader `catimage train --csv` uses.
            let store = try CollectionStore(existing: fixture.collection)
            let csvPath = fixture.directory + "/pool.csv"
            try store.export().csv.write(toFile: csvPath, atomically: true, encoding: .utf8)
            var report = DatasetLoadReport()
            let dataset = try RoutingDataset.loadLongCSV(
                csvPath,
                columns: LongCSVColumns(
                    prompt: "prompt", generator: "generator", quality: "clip", id: "prompt_id", group: nil,
                    cost: "cost"),
                report: &report)
            #expect(dataset.promptCount == 30 && dataset.generatorCount == 3)
            #expect(dataset.hasCost)

            // 5. A router trained on it with real MiniLM embeddings predicts each generator's mean quality.
            let encoder = try PromptEmbedding.loadEncoder(modelDirectory: modelDirectory)
            let features = encoder.embed(dataset.prompts.map(\.text))
            let router = try RouterTrainer.train(
                dataset: dataset, features: features, encoder: encoder, estimator: .mean, lambda: .fixed(0))
            let routerPath = fixture.directory + "/router.catimage"
            try router.write(to: routerPath)
            let loaded = try Router.load(contentsOf: routerPath, encoder: encoder)
            let summary = try store.summary()
            let decision = loaded.decide(prompt: "a lighthouse on a cliff at dawn", lambda: 0)
            // The mean estimator keeps single-precision means, hence the 1e-6.
            for candidate in decision.candidates {
                let mean = summary.generators.first { $0.name == candidate.generator }?.meanScores["clip"]
                #expect(abs(candidate.predictedQuality - (mean ?? .nan)) < 1e-6, "\(candidate)")
            }
            // The stand-ins' quality levels make sdxl the best on average (see standInPrompts' word counts).
            #expect(decision.generator == "sdxl")
            #expect(Set(loaded.generators.map(\.name)) == ["turbo", "sdxl", "hosted"])
        }
    }
}
