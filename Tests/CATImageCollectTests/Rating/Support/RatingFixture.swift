import CATImageEncoder
import Foundation
import GRDB

/// A collection folder made as `catimage collect` makes one (schema version 1, WAL, images named by SHA-256), with
/// prompts rendered by three generators; some renders failed.
final class RatingFixture: Sendable {
    /// The generators' names: none may reach the rating page.
    static let generators = ["sdxl-turbo", "flux-schnell", "sdxl-30steps"]

    struct Render: Sendable {
        var id: Int64
        var promptID: String
        var generator: String
        var sample: Int
        var done: Bool
        var imageHash: String?
    }

    let folder: URL
    let prompts: [(id: String, text: String)]
    let renders: [Render]

    var path: String { folder.path }
    var databasePath: String { folder.appendingPathComponent("collection.sqlite").path }

    /// The done renders of a prompt.
    func doneRenders(of promptID: String) -> [Render] {
        renders.filter { $0.promptID == promptID && $0.done }
    }

    func render(_ id: Int64) -> Render? { renders.first { $0.id == id } }

    /// `prompts` prompts × the generators × `samples`; render `failing` (by 0-based creation index) failed.
    /// Without `ratingTables` the folder lacks `ratings` and `rating_skips`, as `rate` must then create them.
    init(
        prompts count: Int = 3, samples: Int = 1, failing: Set<Int> = [4], ratingTables: Bool = true,
        imageSize: Int = 64
    ) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("catimage-rate-\(UUID().uuidString)")
        let images = folder.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        let texts = [
            "a red bicycle leaning on a brick wall", "a bowl of ramen on a wooden table",
            "a lighthouse on a cliff at dusk", "an owl reading a newspaper", "a white and empty wall",
            "a crowded market street in the rain",
        ]
        prompts = (0..<count).map { ("p\($0)", texts[$0 % texts.count] + ($0 >= texts.count ? " \($0)" : "")) }

        let promptList = prompts
        let queue = try DatabaseQueue(path: folder.appendingPathComponent("collection.sqlite").path)
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        renders = try queue.write { db -> [Render] in
            var made: [Render] = []
            try db.execute(sql: Self.schemaSQL)
            if ratingTables { try db.execute(sql: Self.ratingTablesSQL) }
            try db.execute(
                sql: "INSERT INTO meta (key, value) VALUES ('schema_version', '1'), ('config_digest', ?), "
                    + "('created_at', '2026-11-30T22:00:00Z')",
                arguments: [String(repeating: "ab", count: 32)])
            for (position, prompt) in promptList.enumerated() {
                try db.execute(
                    sql: "INSERT INTO prompts (prompt_id, position, text) VALUES (?, ?, ?)",
                    arguments: [prompt.id, position, prompt.text])
            }
            var index = 0
            for (position, prompt) in promptList.enumerated() {
                for (g, generator) in Self.generators.enumerated() {
                    for sample in 0..<samples {
                        defer { index += 1 }
                        let done = !failing.contains(index)
                        var hash: String?
                        if done {
                            // A distinct colour per render.
                            let png = RatingPNG.image(
                                size: imageSize, red: UInt8(60 + (g * 80) % 196),
                                green: UInt8(40 + (position * 53 + sample * 29) % 200),
                                blue: UInt8(200 - (index * 37) % 150))
                            let digest = SHA256.hexDigest(of: png)
                            try Data(png).write(to: images.appendingPathComponent("\(digest).png"))
                            hash = digest
                        }
                        try db.execute(
                            sql: """
                                INSERT INTO renders (prompt_id, generator, sample, seed, status, image_hash, width,
                                  height, cost, error, finished_at)
                                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '2026-11-30T22:00:01Z')
                                """,
                            arguments: [
                                prompt.id, generator, sample, 1000 + sample, done ? "done" : "failed", hash,
                                done ? imageSize : nil, done ? imageSize : nil, done ? 0.5 + Double(g) : nil,
                                done ? nil : "HTTP 500 from the backend",
                            ])
                        made.append(
                            Render(
                                id: db.lastInsertedRowID, promptID: prompt.id, generator: generator, sample: sample,
                                done: done, imageHash: hash))
                    }
                }
            }
            return made
        }
    }

    deinit { try? FileManager.default.removeItem(at: folder) }

    /// Opens the collection for checks, separately from the server's connection.
    func openReader() throws -> DatabasePool {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        return try DatabasePool(path: databasePath, configuration: configuration)
    }

    /// The `ratings` rows: render id, rater, rating.
    func ratings() throws -> [(renderID: Int64, rater: String, rating: Int)] {
        try openReader().read { db in
            try Row.fetchAll(db, sql: "SELECT render_id, rater, rating FROM ratings ORDER BY render_id, rater").map {
                row in
                let renderID: Int64 = row["render_id"]
                let rater: String = row["rater"]
                let rating: Int = row["rating"]
                return (renderID, rater, rating)
            }
        }
    }

    /// The `rating_skips` rows: prompt id, rater.
    func skips() throws -> [(promptID: String, rater: String)] {
        try openReader().read { db in
            try Row.fetchAll(db, sql: "SELECT prompt_id, rater FROM rating_skips ORDER BY prompt_id, rater").map {
                row in
                let promptID: String = row["prompt_id"]
                let rater: String = row["rater"]
                return (promptID, rater)
            }
        }
    }

    /// The collection schema (version 1) without the rating tables, as in COLLECTION-SCHEMA.md.
    static let schemaSQL = """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE prompts (
          prompt_id TEXT PRIMARY KEY,
          position INTEGER NOT NULL UNIQUE,
          text TEXT NOT NULL);
        CREATE TABLE renders (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          prompt_id TEXT NOT NULL REFERENCES prompts(prompt_id),
          generator TEXT NOT NULL,
          sample INTEGER NOT NULL,
          seed INTEGER,
          status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
          image_hash TEXT,
          width INTEGER, height INTEGER,
          cost REAL,
          backend_seconds REAL,
          error TEXT,
          attempts INTEGER NOT NULL DEFAULT 1,
          finished_at TEXT NOT NULL,
          UNIQUE (prompt_id, generator, sample));
        CREATE TABLE scores (
          render_id INTEGER NOT NULL REFERENCES renders(id),
          metric TEXT NOT NULL,
          value REAL,
          status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
          error TEXT,
          finished_at TEXT NOT NULL,
          PRIMARY KEY (render_id, metric));
        """

    static let ratingTablesSQL = """
        CREATE TABLE ratings (
          render_id INTEGER NOT NULL REFERENCES renders(id),
          rater TEXT NOT NULL,
          rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
          rated_at TEXT NOT NULL,
          PRIMARY KEY (render_id, rater));
        CREATE TABLE rating_skips (
          prompt_id TEXT NOT NULL REFERENCES prompts(prompt_id),
          rater TEXT NOT NULL,
          skipped_at TEXT NOT NULL,
          PRIMARY KEY (prompt_id, rater));
        """
}
