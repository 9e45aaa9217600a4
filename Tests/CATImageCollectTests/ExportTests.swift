import CATImageCollect
import CATImageCore
import CATImageTestSupport
import Foundation
import GRDB
import Testing

@Suite("collect export and inspect")
struct ExportTests {
    @Test("export writes one row per done render with a column per metric and the mean rating; train's loader reads it")
    func exportReadsBack() async throws {
        let fast = StandInGenerator(.a1111, quality: 50)
        let hosted = StandInGenerator(.openAI, quality: 90)
        try await withLocalServers([fast.router(), hosted.router()]) { ports in
            let fixture = try CollectFixture(
                generators: [
                    CollectFixture.a1111("fast", port: ports[0]), CollectFixture.openAI("hosted", port: ports[1]),
                ], prompts: ["a cat, \"sitting\"", "a dog", "an owl", "a fox"])
            defer { fixture.remove() }
            _ = try await withClient { client in try await fixture.collect(samples: 2, client: client) }
            // Scores and ratings as `score` and the rating page write them.
            let queue = try DatabaseQueue(path: fixture.collection + "/collection.sqlite")
            try await queue.write { db in
                let ids = try Int64.fetchAll(db, sql: "SELECT id FROM renders ORDER BY id")
                for (index, id) in ids.enumerated() {
                    try db.execute(
                        sql: "INSERT INTO scores VALUES (?, 'aesthetic', ?, 'done', NULL, '2026-01-01T00:00:00Z')",
                        arguments: [id, Double(index) / 10])
                    try db.execute(
                        sql: "INSERT INTO scores VALUES (?, 'clip', ?, ?, ?, '2026-01-01T00:00:00Z')",
                        arguments: index == 0 ? [id, nil, "failed", "NaN"] : [id, 0.25, "done", nil])
                }
                try db.execute(
                    sql: "INSERT INTO ratings VALUES (?, 'ann', 3, 't'), (?, 'bob', 4, 't')",
                    arguments: [ids[1], ids[1]])
            }
            let store = try CollectionStore(existing: fixture.collection)
            let export = try store.export()
            #expect(
                export.header == ["prompt_id", "prompt", "generator", "sample", "cost", "aesthetic", "clip", "rating"])
            #expect(export.rows.count == 16)
            #expect(export.missingScores == ["aesthetic": 0, "clip": 1])
            #expect(export.rows.filter { $0[7] == "3.5" }.count == 1)
            #expect(export.rows.filter { $0[7].isEmpty }.count == 15)
            #expect(export.rows.filter { $0[6].isEmpty }.count == 1)
            #expect(export.csv.contains("\"a cat, \"\"sitting\"\"\""))

            let path = fixture.directory + "/pool.csv"
            try export.csv.write(toFile: path, atomically: true, encoding: .utf8)
            var report = DatasetLoadReport()
            let dataset = try RoutingDataset.loadLongCSV(
                path, columns: LongCSVColumns(quality: "aesthetic", id: "prompt_id", cost: "cost"), report: &report)
            #expect(dataset.promptCount == 4 && dataset.generatorCount == 2 && dataset.hasCost)
            #expect(dataset.prompts.map(\.text).contains("a cat, \"sitting\""))
            // The render without a clip score leaves an empty cell, which the loader refuses by line.
            let error = #expect(throws: DatasetError.self) {
                try RoutingDataset.loadLongCSV(
                    path, columns: LongCSVColumns(quality: "clip", id: "prompt_id"), report: &report)
            }
            #expect(error?.column == "clip")

            let summary = try store.summary()
            #expect(summary.prompts == 4 && summary.done == 16 && summary.ratings == 2 && summary.unrated == 15)
            #expect(summary.metrics == ["aesthetic", "clip"] && summary.missingScores == ["aesthetic": 0, "clip": 1])
            #expect(summary.generators.map(\.name) == ["fast", "hosted"])
            #expect(summary.generators.allSatisfy { $0.meanCost != nil && $0.p95Cost != nil })
            #expect(summary.generators.map { $0.meanScores["clip"] ?? 0 } == [0.25, 0.25])
            // Two raters on one render: the agreement counts them, with too few images for a figure.
            #expect(summary.agreement.raters == 2 && summary.agreement.ratings == 2)
            #expect(summary.agreement.pairableImages == 1 && summary.agreement.meanPairwiseSpearman == nil)
        }
    }

    @Test("export and inspect refuse a folder that is not a collection")
    func notACollection() throws {
        let error = #expect(throws: CollectionError.self) {
            try CollectionStore(existing: FileManager.default.temporaryDirectory.path + "/no-such-collection")
        }
        #expect(error?.code == .notACollection)
    }
}
