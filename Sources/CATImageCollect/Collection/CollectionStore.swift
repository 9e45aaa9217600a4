import CATImageEncoder
import Foundation
import GRDB

/// A collection folder: `collection.sqlite` (the manifest, schema in /work/notes/COLLECTION-SCHEMA.md and the
/// README) and `images/<sha256>.png`.
///
/// Durability: an image is written to a temporary name in `images/` and renamed into place before the row that
/// points to it commits, and SQLite runs in WAL mode, so a `kill -9` loses at most the renders in flight.
public final class CollectionStore: Sendable {
    /// The schema version this code writes (`meta.schema_version`).
    public static let schemaVersion = 1

    /// The collection folder.
    public let directory: String
    let pool: DatabasePool

    /// `DIR/collection.sqlite`.
    public static func databasePath(in directory: String) -> String {
        (directory as NSString).appendingPathComponent("collection.sqlite")
    }

    /// `DIR/images`.
    public var imagesDirectory: String { (directory as NSString).appendingPathComponent("images") }

    /// The file of the image with this hash.
    public func imagePath(hash: String) -> String {
        (imagesDirectory as NSString).appendingPathComponent("\(hash).png")
    }

    /// Opens an existing collection (for scoring, export, inspection); never creates one.
    public convenience init(existing directory: String) throws(CollectionError) {
        let path = Self.databasePath(in: directory)
        guard FileManager.default.fileExists(atPath: path) else {
            throw CollectionError(
                .notACollection, file: directory, "not a collection folder (no collection.sqlite): run `collect` first")
        }
        try self.init(directory: directory)
        let version = try read { db in
            try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'schema_version'")
        }
        guard version.flatMap(Int.init) == Self.schemaVersion else {
            throw CollectionError(
                .notACollection, file: path, value: version ?? "none",
                "unsupported schema version; this catimage reads version \(Self.schemaVersion)")
        }
    }

    /// Opens or creates the collection a `collect` run writes, refusing one made with another generators section.
    ///
    /// - Parameters:
    ///   - digest: SHA-256 of the canonical JSON of the generators section (``GeneratorSet/digest``).
    ///   - canonicalJSON: that JSON, kept so a mismatch can name the generators that differ.
    public static func openForCollecting(
        directory: String, digest: String, canonicalJSON: String
    ) throws(CollectionError) -> CollectionStore {
        do {
            try FileManager.default.createDirectory(
                atPath: (directory as NSString).appendingPathComponent("images"), withIntermediateDirectories: true)
        } catch {
            throw CollectionError(.storage, file: directory, "cannot create the collection folder: \(error)")
        }
        let store = try CollectionStore(directory: directory)
        let stored = try store.write { db -> (String?, String?) in
            let now = Date.now.formatted(.iso8601)
            try db.execute(
                sql: "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?), ('created_at', ?)",
                arguments: ["\(schemaVersion)", now])
            let digestValue = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'config_digest'")
            let json = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'config_generators'")
            if digestValue == nil {
                try db.execute(
                    sql: "INSERT INTO meta (key, value) VALUES ('config_digest', ?), ('config_generators', ?)",
                    arguments: [digest, canonicalJSON])
            }
            return (digestValue, json)
        }
        if let storedDigest = stored.0, storedDigest != digest {
            let differing = GeneratorSet.differingGenerators(stored.1 ?? "{}", canonicalJSON)
            throw CollectionError(
                .configMismatch, file: directory, value: differing.joined(separator: ", "),
                "this folder was collected with a different generators section (digest \(storedDigest.prefix(12))…, "
                    + "this config's is \(digest.prefix(12))…); the value names the generators that differ. "
                    + "Collect into another folder, or use the config the folder was made with")
        }
        return store
    }

    private init(directory: String) throws(CollectionError) {
        self.directory = directory
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(30)
        do {
            pool = try DatabasePool(path: Self.databasePath(in: directory), configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch {
            throw CollectionError(
                .storage, file: Self.databasePath(in: directory), "cannot open the database: \(error)")
        }
    }

    /// Schema version 1: every table of the collection folder, ratings included (the rating page fills them).
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
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
                    """)
        }
        return migrator
    }

    func read<T>(_ body: (Database) throws -> T) throws(CollectionError) -> T {
        do {
            return try pool.read(body)
        } catch {
            throw CollectionError(.storage, file: Self.databasePath(in: directory), "database read failed: \(error)")
        }
    }

    func write<T>(_ body: (Database) throws -> T) throws(CollectionError) -> T {
        do {
            return try pool.write(body)
        } catch let error as CollectionError {
            throw error
        } catch {
            throw CollectionError(.storage, file: Self.databasePath(in: directory), "database write failed: \(error)")
        }
    }

    func write<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws(CollectionError) -> T {
        do {
            return try await pool.write(body)
        } catch {
            throw CollectionError(.storage, file: Self.databasePath(in: directory), "database write failed: \(error)")
        }
    }
}

// MARK: - Prompts

extension CollectionStore {
    /// Adds the file's prompts; prompts already stored must keep their text and position.
    public func addPrompts(_ prompts: [CollectionPrompt], source: String) throws(CollectionError) {
        try write { db in
            var storedByID: [String: (position: Int, text: String)] = [:]
            var storedPositions: [Int: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT prompt_id, position, text FROM prompts") {
                let id: String = row["prompt_id"]
                storedByID[id] = (row["position"], row["text"])
                storedPositions[row["position"]] = id
            }
            for prompt in prompts {
                if let stored = storedByID[prompt.id] {
                    guard stored.text == prompt.text, stored.position == prompt.position else {
                        throw CollectionError(
                            .promptsChanged, file: source, value: prompt.id,
                            "prompt \(prompt.position + 1) differs from the one this collection holds under the same "
                                + "id (position \(stored.position + 1)): collect a changed prompts file into a new "
                                + "folder")
                    }
                    continue
                }
                if let other = storedPositions[prompt.position] {
                    throw CollectionError(
                        .promptsChanged, file: source, value: prompt.id,
                        "prompt \(prompt.position + 1) takes the place of prompt id '\(other)' already collected: "
                            + "append new prompts at the end of the file, or collect into a new folder")
                }
                try db.execute(
                    sql: "INSERT INTO prompts (prompt_id, position, text) VALUES (?, ?, ?)",
                    arguments: [prompt.id, prompt.position, prompt.text])
            }
        }
    }

    /// Every stored prompt, in position order.
    public func prompts() throws(CollectionError) -> [CollectionPrompt] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT prompt_id, position, text FROM prompts ORDER BY position").map {
                CollectionPrompt(id: $0["prompt_id"], position: $0["position"], text: $0["text"])
            }
        }
    }
}

// MARK: - Renders

/// One (prompt, generator, sample) cell of a collection.
public struct RenderKey: Sendable, Hashable, Codable {
    public var promptID: String
    public var generator: String
    public var sample: Int

    public init(promptID: String, generator: String, sample: Int) {
        self.promptID = promptID
        self.generator = generator
        self.sample = sample
    }
}

/// A render's stored row.
public struct RenderRow: Sendable, Equatable {
    public var id: Int64
    public var key: RenderKey
    public var seed: Int?
    public var isDone: Bool
    public var imageHash: String?
    public var cost: Double?
    public var error: String?
    public var attempts: Int
    public var finishedAt: String
}

extension CollectionStore {
    /// Every render row, optionally of some generators only.
    public func renders(generators: Set<String>? = nil) throws(CollectionError) -> [RenderRow] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, prompt_id, generator, sample, seed, status, image_hash, cost, error, attempts, finished_at
                    FROM renders ORDER BY id
                    """
            ).compactMap { row -> RenderRow? in
                let generator: String = row["generator"]
                if let generators, !generators.contains(generator) { return nil }
                return RenderRow(
                    id: row["id"],
                    key: RenderKey(promptID: row["prompt_id"], generator: generator, sample: row["sample"]),
                    seed: row["seed"], isDone: (row["status"] as String) == "done", imageHash: row["image_hash"],
                    cost: row["cost"], error: row["error"], attempts: row["attempts"], finishedAt: row["finished_at"])
            }
        }
    }

    /// Writes `bytes` as `images/<sha256>.png` (temporary name, then rename) and returns the hash.
    ///
    /// A file already there under that name has the same bytes, so it is left alone.
    public func storeImage(_ bytes: Data) throws(CollectionError) -> String {
        let hash = SHA256.hexDigest(of: bytes)
        let path = imagePath(hash: hash)
        if FileManager.default.fileExists(atPath: path) { return hash }
        let temporary = (imagesDirectory as NSString).appendingPathComponent(".\(hash).\(UUID().uuidString).tmp")
        guard FileManager.default.createFile(atPath: temporary, contents: bytes) else {
            throw CollectionError(.storage, file: temporary, "cannot write the image file")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw CollectionError(.storage, file: path, "cannot move the image into place: \(reason)")
        }
        return hash
    }

    /// What a finished attempt at one render produced.
    public enum Outcome: Sendable {
        case done(imageHash: String, width: Int?, height: Int?, cost: Double, backendSeconds: Double?)
        case failed(error: String)
    }

    /// Commits one render's row. A done row is never replaced; a failed one is replaced by the new outcome.
    public func record(
        _ key: RenderKey, seed: Int?, outcome: Outcome, attempts: Int
    ) async throws(CollectionError) {
        let now = Date.now.formatted(.iso8601)
        var arguments: StatementArguments = [key.promptID, key.generator, key.sample, seed]
        switch outcome {
        case .done(let hash, let width, let height, let cost, let backendSeconds):
            arguments += ["done", hash, width, height, cost, backendSeconds, nil]
        case .failed(let error):
            arguments += ["failed", nil, nil, nil, nil, nil, error]
        }
        arguments += [attempts, now]
        let values = arguments
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO renders (prompt_id, generator, sample, seed, status, image_hash, width, height, cost,
                                         backend_seconds, error, attempts, finished_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (prompt_id, generator, sample) DO UPDATE SET
                      seed = excluded.seed, status = excluded.status, image_hash = excluded.image_hash,
                      width = excluded.width, height = excluded.height, cost = excluded.cost,
                      backend_seconds = excluded.backend_seconds, error = excluded.error,
                      attempts = renders.attempts + excluded.attempts, finished_at = excluded.finished_at
                    WHERE renders.status = 'failed'
                    """, arguments: values)
        }
    }

    /// A meta value, e.g. `config_digest`.
    public func meta(_ key: String) throws(CollectionError) -> String? {
        try read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) }
    }

    /// Sets a meta value.
    public func setMeta(_ key: String, _ value: String) throws(CollectionError) {
        try write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", arguments: [key, value])
        }
    }
}
