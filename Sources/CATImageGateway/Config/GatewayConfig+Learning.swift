import Foundation

extension GatewayConfig {
    /// ε-exploration of `model: "auto"` requests (see ``Exploration``).
    public struct ExplorationSettings: Sendable, Equatable {
        /// ε: the share of routed requests sent to a generator drawn uniformly from the live ones; 0 turns it off.
        public var rate = 0.0
        /// Seed of the draws, for reproducible runs; `nil` seeds from the system.
        public var seed: UInt64?
        public init(rate: Double = 0, seed: UInt64? = nil) {
            self.rate = rate
            self.seed = seed
        }
    }
}

extension GatewayConfig {
    /// Sampled scoring of served images with an HTTP scorer (the protocol of `catimage score`), off the request path.
    public struct ScoringSettings: Sendable, Equatable {
        /// The scorer's URL (`POST`).
        public var url: String
        /// The metric name sent to the scorer and stored with each score.
        public var metric: String
        /// Share of served image requests scored.
        public var sampleRate = 0.1
        /// Seconds one scorer request may take.
        public var timeoutSeconds = 30.0
        /// Scorer requests in flight at once.
        public var concurrency = 2
        /// Samples waiting for a scorer request; beyond it new samples are dropped and counted.
        public var queueCapacity = 256
        public init(url: String, metric: String) {
            self.url = url
            self.metric = metric
        }
    }
}

extension GatewayConfig {
    /// `POST /admin/reload`, behind its own bearer token; off (404) without one.
    public struct AdminSettings: Sendable, Equatable {
        /// The environment variable holding the admin token.
        public var tokenEnvironmentVariable: String?
        /// The admin token; `nil` turns the admin endpoint off.
        public var token: String?
        public init(token: String? = nil) { self.token = token }
    }
}

extension YAMLSection {
    /// Reads the learning-loop sections (`exploration`, `scoring`, `admin`) into `config`.
    func readLearning(into config: inout GatewayConfig, environment: [String: String]) throws(ConfigError) {
        if let exploration = try section("exploration") {
            try exploration.checkKeys(["rate", "seed"])
            let rate = try exploration.double("rate", minimum: 0) ?? 0
            if rate > 1 {
                throw exploration.error("rate", value: "\(rate)", "must be at most 1 (a share of requests)")
            }
            config.exploration.rate = rate
            config.exploration.seed = try exploration.int("seed", in: 0...Int.max).map { UInt64($0) }
        }
        if let scoring = try section("scoring") {
            try scoring.checkKeys(["url", "metric", "sample_rate", "timeout_seconds", "concurrency", "queue_capacity"])
            let url = try scoring.requiredString("url")
            guard let parsed = URL(string: url), let scheme = parsed.scheme, ["http", "https"].contains(scheme),
                parsed.host != nil
            else {
                throw scoring.error("url", value: url, "expected an http:// or https:// URL with a host")
            }
            var value = GatewayConfig.ScoringSettings(url: url, metric: try scoring.requiredString("metric"))
            value.sampleRate = try scoring.double("sample_rate", minimum: 0) ?? value.sampleRate
            if value.sampleRate > 1 {
                throw scoring.error(
                    "sample_rate", value: "\(value.sampleRate)", "must be at most 1 (a share of requests)")
            }
            value.timeoutSeconds =
                try scoring.double("timeout_seconds", minimum: 0, exclusive: true) ?? value.timeoutSeconds
            value.concurrency = try scoring.int("concurrency", in: 1...256) ?? value.concurrency
            value.queueCapacity = try scoring.int("queue_capacity", in: 1...1_000_000) ?? value.queueCapacity
            if config.log.path == nil {
                throw scoring.error("url", "scoring stores scores in the decision log: set log.path too")
            }
            config.scoring = value
        }
        if let admin = try section("admin") {
            try admin.checkKeys(["token_env"])
            let variable = try admin.requiredString("token_env")
            guard let token = environment[variable]?.trimmingCharacters(in: .whitespaces), !token.isEmpty else {
                throw admin.error("token_env", value: variable, "the environment variable is not set or empty")
            }
            config.admin.tokenEnvironmentVariable = variable
            config.admin.token = token
        }
    }
}
