import Foundation
import GRDB

/// The rating side of a collection folder (`DIR/collection.sqlite`, `DIR/images/`): reads prompts and done renders,
/// writes `ratings` and `rating_skips` and nothing else.
///
/// The database is opened as a GRDB `DatabasePool`, so in WAL mode: readers (an `inspect`, an `export`, a running
/// `collect`) keep reading while a rating is written, and writers wait for each other up to the busy timeout
/// instead of failing.
public final class RatingStore: Sendable {
    /// The collection folder.
    public let folder: URL
    /// `DIR/collection.sqlite`.
    public let databasePath: String
    let pool: DatabasePool

    /// The tables `rate` creates when a collection lacks them (the collection schema, version 1).
    static let ratingTablesSQL = """
        CREATE TABLE IF NOT EXISTS ratings (
          render_id INTEGER NOT NULL REFERENCES renders(id),
          rater TEXT NOT NULL,
          rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
          rated_at TEXT NOT NULL,
          PRIMARY KEY (render_id, rater));
        CREATE TABLE IF NOT EXISTS rating_skips (
          prompt_id TEXT NOT NULL REFERENCES prompts(prompt_id),
          rater TEXT NOT NULL,
          skipped_at TEXT NOT NULL,
          PRIMARY KEY (prompt_id, rater));
        """

    /// Opens the collection at `path`, checks that it is one (schema version 1), and creates the rating tables if
    /// they are missing.
    public init(collectionAt path: String) throws {
        folder = URL(fileURLWithPath: path, isDirectory: true).standardizedFileURL
        databasePath = folder.appendingPathComponent("collection.sqlite").path
        guard FileManager.default.fileExists(atPath: databasePath) else {
            throw RatingError(
                .missingDatabase, file: databasePath,
                "no collection database here; make one with `catimage collect --out \(path)`")
        }
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        do {
            pool = try DatabasePool(path: databasePath, configuration: configuration)
        } catch {
            throw RatingError(.notACollection, file: databasePath, "cannot open as an SQLite database: \(error)")
        }
        let file = databasePath
        try pool.read { db in
            for table in ["meta", "prompts", "renders"] where try !db.tableExists(table) {
                throw RatingError(
                    .notACollection, file: file, value: table, "not a catimage collection: table '\(table)' is missing")
            }
            let version = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'schema_version'")
            guard version == "1" else {
                throw RatingError(
                    .notACollection, file: file, value: version ?? "none",
                    "unsupported collection schema version; this catimage reads version 1")
            }
        }
        try pool.write { db in try db.execute(sql: Self.ratingTablesSQL) }
    }

    /// `DIR/images/<hash>.png`, or `nil` when `hash` is not a lowercase SHA-256 hex digest (so a bad row can never
    /// name a file outside the folder).
    func imageURL(hash: String) -> URL? {
        guard hash.utf8.count == 64, hash.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
        else { return nil }
        return folder.appendingPathComponent("images").appendingPathComponent(hash + ".png")
    }

    /// A prompt that has done images, with one rater's progress on it.
    struct PromptProgress: Sendable, Equatable {
        var promptID: String
        var text: String
        var images: Int
        var rated: Int
        var skipped: Bool
        /// Every image rated, or the prompt skipped.
        var isFinished: Bool { skipped || rated >= images }
    }

    /// Every prompt with at least one done image, in the prompts file's order, with `rater`'s progress.
    func progress(rater: String) async throws -> [PromptProgress] {
        try await pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT p.prompt_id, p.text, COUNT(r.id) AS images, COUNT(g.render_id) AS rated,
                      EXISTS (SELECT 1 FROM rating_skips s WHERE s.prompt_id = p.prompt_id AND s.rater = ?) AS skipped
                    FROM prompts p
                    JOIN renders r ON r.prompt_id = p.prompt_id AND r.status = 'done' AND r.image_hash IS NOT NULL
                    LEFT JOIN ratings g ON g.render_id = r.id AND g.rater = ?
                    GROUP BY p.prompt_id
                    ORDER BY p.position
                    """, arguments: [rater, rater])
            return rows.map { row in
                PromptProgress(
                    promptID: row["prompt_id"], text: row["text"], images: row["images"], rated: row["rated"],
                    skipped: row["skipped"])
            }
        }
    }

    /// A done render of a prompt, with one rater's rating of it.
    struct RenderRating: Sendable, Equatable {
        var renderID: Int64
        var rating: Int?
    }

    /// The done renders of `promptID` in render-id order, with `rater`'s ratings.
    func renders(ofPrompt promptID: String, rater: String) async throws -> [RenderRating] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT r.id, g.rating FROM renders r
                    LEFT JOIN ratings g ON g.render_id = r.id AND g.rater = ?
                    WHERE r.prompt_id = ? AND r.status = 'done' AND r.image_hash IS NOT NULL
                    ORDER BY r.id
                    """, arguments: [rater, promptID]
            ).map { RenderRating(renderID: $0["id"], rating: $0["rating"]) }
        }
    }

    /// The prompt of a done render, or `nil` when there is no such done render.
    func prompt(ofRender renderID: Int64) async throws -> String? {
        try await pool.read { db in
            try String.fetchOne(
                db,
                sql: "SELECT prompt_id FROM renders WHERE id = ? AND status = 'done' AND image_hash IS NOT NULL",
                arguments: [renderID])
        }
    }

    /// The image file of a done render, or `nil` when there is no such render or its hash is malformed.
    func imageFile(ofRender renderID: Int64) async throws -> URL? {
        let hash = try await pool.read { db in
            try String.fetchOne(
                db, sql: "SELECT image_hash FROM renders WHERE id = ? AND status = 'done'", arguments: [renderID])
        }
        return hash.flatMap { imageURL(hash: $0) }
    }

    /// Records (or replaces) `rater`'s rating of a render; returns the render's prompt id.
    ///
    /// `INSERT OR REPLACE` deletes and re-inserts a replaced row, so the newest rating always has the highest rowid,
    /// which is what ``undoLastRating(rater:)`` relies on.
    func rate(renderID: Int64, rater: String, rating: Int, at time: Date = Date()) async throws -> String {
        precondition((1...5).contains(rating), "ratings are checked before they are stored")
        let stamp = Self.timestamp(time)
        return try await pool.write { db in
            guard
                let prompt = try String.fetchOne(
                    db, sql: "SELECT prompt_id FROM renders WHERE id = ? AND status = 'done'", arguments: [renderID])
            else {
                throw RatingError(.unknownImage, field: "image", "the image is no longer in the collection")
            }
            try db.execute(
                sql: "INSERT OR REPLACE INTO ratings (render_id, rater, rating, rated_at) VALUES (?, ?, ?, ?)",
                arguments: [renderID, rater, rating, stamp])
            return prompt
        }
    }

    /// Records that `rater` skipped a prompt (again: the time is updated).
    func skip(promptID: String, rater: String, at time: Date = Date()) async throws {
        let stamp = Self.timestamp(time)
        try await pool.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO rating_skips (prompt_id, rater, skipped_at) VALUES (?, ?, ?)",
                arguments: [promptID, rater, stamp])
        }
    }

    /// A rating that undo removed.
    struct UndoneRating: Sendable, Equatable {
        var renderID: Int64
        var promptID: String
        var rating: Int
    }

    /// Deletes `rater`'s most recent rating (highest rowid), or returns `nil` when the rater has none.
    func undoLastRating(rater: String) async throws -> UndoneRating? {
        try await pool.write { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT g.rowid AS row_number, g.render_id, g.rating, r.prompt_id
                        FROM ratings g JOIN renders r ON r.id = g.render_id
                        WHERE g.rater = ? ORDER BY g.rowid DESC LIMIT 1
                        """, arguments: [rater])
            else { return nil }
            let rowNumber: Int64 = row["row_number"]
            try db.execute(sql: "DELETE FROM ratings WHERE rowid = ?", arguments: [rowNumber])
            return UndoneRating(renderID: row["render_id"], promptID: row["prompt_id"], rating: row["rating"])
        }
    }

    /// ISO 8601 UTC with milliseconds, as the collection's `*_at` columns hold.
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}
