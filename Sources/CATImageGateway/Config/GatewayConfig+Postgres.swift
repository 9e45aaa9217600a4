import Foundation

extension GatewayConfig.Log {
    /// The PostgreSQL decision log (`log: {postgres: {...}}`), shared by every replica of a fleet.
    ///
    /// While PostgreSQL commits a batch within `writeTimeoutSeconds`, a request's response waits for its row's commit
    /// (group commit). When a write fails or takes longer, the store turns *degraded*: requests stop waiting, rows
    /// queue in memory (at most `queueLimit`, the newest beyond it dropped and counted) and are retried with backoff
    /// until PostgreSQL answers again.
    public struct Postgres: Sendable, Equatable {
        public var host = "127.0.0.1"
        public var port = 5432
        public var database: String
        public var user: String
        /// The environment variable holding the password (`nil`: no password, e.g. trust or peer authentication).
        public var passwordEnvironmentVariable: String?
        /// The password read from `passwordEnvironmentVariable` when the config was loaded.
        public var password: String?
        /// Most connections the replica opens.
        public var poolSize = 4
        /// How long a request waits for its row's commit before the store turns degraded.
        public var writeTimeoutSeconds = 1.0
        /// Rows held in memory while PostgreSQL is down or slow; beyond it new rows are dropped (and counted).
        public var queueLimit = 100_000
        /// Most rows one INSERT carries.
        public var batchSize = 500
        /// Seconds to connect before a connection attempt counts as failed.
        public var connectTimeoutSeconds = 5.0
        /// Share this replica's windowed spend through the `budget_reports` table and steer toward the fleet's
        /// target (``FleetBudget``); needs `budget.target_mean_cost`.
        public var fleetBudget = false
        /// This replica's name in `budget_reports`; `nil` uses host name and listen port.
        public var replica: String?
        /// Seconds between budget reports.
        public var reportIntervalSeconds = 1.0
        /// Reports older than this are left out of the fleet's totals (a stopped replica stops counting).
        public var reportStaleSeconds = 5.0

        public init(database: String, user: String) {
            self.database = database
            self.user = user
        }
    }
}

extension YAMLSection {
    /// `log.postgres`, checked: the password variable must be set, and `log.path` must not be given too.
    func postgresSettings(environment: [String: String]) throws(ConfigError) -> GatewayConfig.Log.Postgres? {
        guard let section = try section("postgres") else { return nil }
        if node("path") != nil {
            throw ConfigError(
                file: file, key: path, line: line, "give log.path (SQLite) or log.postgres (PostgreSQL), not both")
        }
        try section.checkKeys([
            "host", "port", "database", "user", "password_env", "pool_size", "write_timeout_seconds", "queue_limit",
            "batch_size", "connect_timeout_seconds", "fleet_budget", "replica", "report_interval_seconds",
            "report_stale_seconds",
        ])
        var settings = GatewayConfig.Log.Postgres(
            database: try section.requiredString("database"), user: try section.requiredString("user"))
        settings.host = try section.string("host") ?? settings.host
        settings.port = try section.int("port", in: 1...65535) ?? settings.port
        if let variable = try section.string("password_env") {
            guard let value = environment[variable] else {
                throw section.error("password_env", value: variable, "the environment variable is not set")
            }
            settings.passwordEnvironmentVariable = variable
            settings.password = value
        }
        settings.poolSize = try section.int("pool_size", in: 1...256) ?? settings.poolSize
        settings.writeTimeoutSeconds =
            try section.double("write_timeout_seconds", minimum: 0, exclusive: true) ?? settings.writeTimeoutSeconds
        settings.queueLimit = try section.int("queue_limit", in: 0...10_000_000) ?? settings.queueLimit
        settings.batchSize = try section.int("batch_size", in: 1...3000) ?? settings.batchSize
        settings.connectTimeoutSeconds =
            try section.double("connect_timeout_seconds", minimum: 0, exclusive: true)
            ?? settings.connectTimeoutSeconds
        if let flag = section.node("fleet_budget") {
            guard let value = flag.bool else {
                throw section.error("fleet_budget", value: flag.string, "expected true or false")
            }
            settings.fleetBudget = value
        }
        settings.replica = try section.string("replica")
        settings.reportIntervalSeconds =
            try section.double("report_interval_seconds", minimum: 0.05) ?? settings.reportIntervalSeconds
        settings.reportStaleSeconds =
            try section.double("report_stale_seconds", minimum: 0, exclusive: true) ?? settings.reportStaleSeconds
        return settings
    }
}
