import ArgumentParser
import CATImageGateway
import Foundation

/// Which decision log `catimage log` reads: a SQLite file, the store a gateway config names, or a PostgreSQL URL.
struct LogStoreOptions: ParsableArguments {
    @Option(help: "The SQLite decision log (the config's log.path).")
    var db: String?

    @Option(help: "A gateway config: read the log it names (log.path or log.postgres).")
    var config: String?

    @Option(help: "A PostgreSQL log: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (or the password in PGPASSWORD).")
    var postgres: String?

    func validate() throws {
        let given = [db, config, postgres].compactMap { $0 }
        guard given.count == 1 else {
            throw ValidationError("give one of --db FILE, --config FILE or --postgres URL")
        }
        if let db, !FileManager.default.fileExists(atPath: db) { throw ValidationError("no decision log at \(db)") }
        if let postgres, PostgresDecisionLog.settings(url: postgres) == nil {
            throw ValidationError(
                "--postgres must look like postgres://user@host:5432/database, got '\(postgres)'")
        }
    }

    /// Where the log is, for messages.
    var label: String { db ?? config ?? postgres ?? "" }

    /// Opens the log for reading (PostgreSQL: connected and checked, not migrated).
    func open() async throws -> any DecisionStore {
        if let db { return try DecisionLog(readingFrom: db) }
        if let postgres, let settings = PostgresDecisionLog.settings(url: postgres) {
            return try await PostgresDecisionLog.openForReading(settings: settings)
        }
        guard let config else { throw ValidationError("give one of --db FILE, --config FILE or --postgres URL") }
        let settings: GatewayConfig
        do {
            settings = try GatewayConfig.load(contentsOf: config)
        } catch {
            throw ValidationError("\(error)")
        }
        if let postgres = settings.log.postgres {
            return try await PostgresDecisionLog.openForReading(settings: postgres)
        }
        guard let path = settings.log.path else {
            throw ValidationError("\(config) configures no decision log (neither log.path nor log.postgres)")
        }
        return try DecisionLog(readingFrom: path)
    }
}
