import Foundation
import GRDB
import Testing

@testable import CATImageCollect

@Suite("Opening a collection for rating, and its rating report")
struct RatingStoreTests {
    @Test("a collection without rating tables gets them, and nothing else in it changes")
    func createsRatingTables() throws {
        let fixture = try RatingFixture(ratingTables: false)
        let before = try fixture.openReader().read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        }
        #expect(!before.contains("ratings"))
        _ = try RatingStore(collectionAt: fixture.path)
        let after = try fixture.openReader().read { db in
            (
                try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"),
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM renders"),
                try String.fetchOne(db, sql: "PRAGMA journal_mode")
            )
        }
        #expect(Set(after.0) == Set(before + ["ratings", "rating_skips"]))
        #expect(after.1 == fixture.renders.count)
        #expect(after.2 == "wal")
        // Opening again (tables present) is harmless.
        _ = try RatingStore(collectionAt: fixture.path)
    }

    @Test("a folder that is not a collection is refused, naming the file and what is wrong")
    func refusesNonCollections() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("catimage-rate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let database = folder.appendingPathComponent("collection.sqlite").path

        let missing = #expect(throws: RatingError.self) { try RatingStore(collectionAt: folder.path) }
        #expect(missing?.code == .missingDatabase)
        #expect(missing?.file == database)

        try Data("these are not the bytes of an SQLite database, not at all".utf8).write(
            to: URL(fileURLWithPath: database))
        let garbage = #expect(throws: RatingError.self) { try RatingStore(collectionAt: folder.path) }
        #expect(garbage?.code == .notACollection)
        try FileManager.default.removeItem(atPath: database)

        let queue = try DatabaseQueue(path: database)
        try queue.write { db in try db.execute(sql: "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)") }
        let noTables = #expect(throws: RatingError.self) { try RatingStore(collectionAt: folder.path) }
        #expect(noTables?.code == .notACollection)
        #expect(noTables?.value == "prompts")
        #expect(noTables.map { "\($0)" }?.contains("table 'prompts' is missing") == true)
        // It wrote nothing into the stranger's database.
        #expect(try queue.read { db in try db.tableExists("ratings") } == false)

        let fixture = try RatingFixture()
        try fixture.openReader().write { db in
            try db.execute(sql: "UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        }
        let version = #expect(throws: RatingError.self) { try RatingStore(collectionAt: fixture.path) }
        #expect(version?.code == .notACollection)
        #expect(version?.value == "2")
    }

    @Test("the report counts raters, their ratings and skips, multiply-rated images and their agreement")
    func report() async throws {
        let fixture = try RatingFixture(prompts: 2, samples: 2, failing: [])
        let store = try RatingStore(collectionAt: fixture.path)
        let ids = fixture.renders.map(\.id)
        // ann and bob rate the same 4 images in the same order of quality; cy rates 2 of them and one other.
        for (index, id) in ids.prefix(4).enumerated() {
            _ = try await store.rate(renderID: id, rater: "ann", rating: index + 1)
            _ = try await store.rate(renderID: id, rater: "bob", rating: min(index + 2, 5))
        }
        _ = try await store.rate(renderID: ids[0], rater: "cy", rating: 1)
        _ = try await store.rate(renderID: ids[1], rater: "cy", rating: 3)
        _ = try await store.rate(renderID: ids[8], rater: "cy", rating: 5)
        try await store.skip(promptID: "p1", rater: "dee")
        let report = try store.report()
        #expect(report.images == 12)
        #expect(report.ratedImages == 5)
        #expect(report.imagesWithTwoOrMoreRaters == 4)
        #expect(report.raters.map(\.name) == ["ann", "bob", "cy", "dee"])
        #expect(report.raters.map(\.ratings) == [4, 4, 3, 0])
        #expect(report.raters.map(\.skips) == [0, 0, 0, 1])
        #expect(report.raters[0].meanRating == 2.5)
        #expect(report.agreement.spearmanPairs == 1, "only ann–bob share 3 or more images")
        #expect(report.agreement.meanPairwiseSpearman == 1)
        let expected = RaterAgreement(records: try store.ratingRecords())
        #expect(report.agreement == expected)
        #expect(report.agreement.pairableRatings == 10)
    }
}
