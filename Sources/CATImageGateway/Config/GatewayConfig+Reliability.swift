import Foundation

extension GatewayConfig {
    /// Per-generator circuit breakers (see ``CircuitBreaker``): an open generator is skipped by the rule.
    public struct Breaker: Sendable, Equatable {
        /// `false` turns breakers off: every generator is always tried.
        public var enabled = true
        /// Failed attempts in a row that open the breaker.
        public var consecutiveFailures = 5
        /// Timed-out attempts in a row that open the breaker (a hanging server costs a whole timeout per attempt).
        public var consecutiveTimeouts = 2
        /// Failure rate over the window that opens the breaker, once the window holds `minimumAttempts` attempts.
        public var failureRate = 0.75
        public var minimumAttempts = 20
        /// The failure-rate window, in seconds.
        public var windowSeconds = 30.0
        /// Cool-down before an open breaker lets probes through.
        public var openSeconds = 10.0
        /// Probe attempts let through when half-open; that many successes close the breaker, one failure re-opens it.
        public var halfOpenProbes = 1
        public init() {}
    }

    /// Admission control of `/v1/*`: bounded concurrency, a bounded wait, and an optional per-token rate limit.
    public struct Admission: Sendable, Equatable {
        /// Requests handled at once; more wait in the queue.
        public var maxInFlight = 64
        /// Requests waiting for a slot; beyond it a request gets 503 at once.
        public var maxQueue = 256
        /// Longest wait in the queue before a request gets 503.
        public var queueTimeoutSeconds = 1.0
        /// The `Retry-After` seconds sent with 503.
        public var retryAfterSeconds = 1
        /// Requests per second per bearer token (all requests share one bucket when auth is off); `nil`: no limit.
        public var ratePerToken: Double?
        /// Requests a token may send at once after a quiet period (the bucket's size); `nil`: twice the rate, at
        /// least 1.
        public var burstPerToken: Double?
        /// Most distinct tokens tracked; the least recently seen is forgotten beyond it.
        public var maxTrackedTokens = 10_000
        public init() {}
    }

    /// Limits on client connections, so idle or slow clients cannot hold the server's sockets and file descriptors.
    public struct Connections: Sendable, Equatable {
        /// A connection with no request for this long is closed.
        public var idleTimeoutSeconds = 60.0
        /// Time from a request's first byte to the end of its headers; the connection is closed beyond it.
        public var headerTimeoutSeconds = 10.0
        /// Time from the end of the headers to the end of the body; 408 and close beyond it.
        public var bodyTimeoutSeconds = 30.0
        /// Open connections at most; `nil`: the open-file limit less `reservedFileDescriptors`. Beyond it new
        /// connections wait in the listen backlog.
        public var maxConnections: Int?
        /// File descriptors kept free for the log, backends and models when `maxConnections` is derived.
        public var reservedFileDescriptors = 256
        public init() {}

        /// The connection cap in force: the configured one, never above the open-file limit less the reserve.
        public var effectiveMaxConnections: Int {
            var limit = rlimit()
            let fileLimit = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Int(clamping: limit.rlim_cur) : 1024
            let ceiling = max(16, fileLimit - reservedFileDescriptors)
            return min(maxConnections ?? ceiling, ceiling)
        }
    }
}

extension YAMLSection {
    /// Reads the `breaker`, `admission` and `connections` sections into `config`.
    func readReliability(into config: inout GatewayConfig) throws(ConfigError) {
        if let breaker = try section("breaker") {
            try breaker.checkKeys([
                "enabled", "consecutive_failures", "consecutive_timeouts", "failure_rate", "minimum_attempts",
                "window_seconds", "open_seconds", "half_open_probes",
            ])
            var value = config.breaker
            if let enabled = breaker.node("enabled") {
                guard let flag = enabled.bool else {
                    throw breaker.error("enabled", value: enabled.string, "expected true or false")
                }
                value.enabled = flag
            }
            value.consecutiveFailures =
                try breaker.int("consecutive_failures", in: 1...1000) ?? value.consecutiveFailures
            value.consecutiveTimeouts =
                try breaker.int("consecutive_timeouts", in: 1...1000) ?? value.consecutiveTimeouts
            value.failureRate = try breaker.double("failure_rate", minimum: 0, exclusive: true) ?? value.failureRate
            if value.failureRate > 1 {
                throw breaker.error("failure_rate", value: "\(value.failureRate)", "must be at most 1")
            }
            value.minimumAttempts = try breaker.int("minimum_attempts", in: 1...100_000) ?? value.minimumAttempts
            value.windowSeconds =
                try breaker.double("window_seconds", minimum: 0, exclusive: true) ?? value.windowSeconds
            value.openSeconds = try breaker.double("open_seconds", minimum: 0, exclusive: true) ?? value.openSeconds
            value.halfOpenProbes = try breaker.int("half_open_probes", in: 1...100) ?? value.halfOpenProbes
            config.breaker = value
        }
        if let admission = try section("admission") {
            try admission.checkKeys([
                "max_in_flight", "max_queue", "queue_timeout_seconds", "retry_after_seconds", "rate_per_token",
                "burst_per_token", "max_tracked_tokens",
            ])
            var value = config.admission
            value.maxInFlight = try admission.int("max_in_flight", in: 1...100_000) ?? value.maxInFlight
            value.maxQueue = try admission.int("max_queue", in: 0...1_000_000) ?? value.maxQueue
            value.queueTimeoutSeconds =
                try admission.double("queue_timeout_seconds", minimum: 0) ?? value.queueTimeoutSeconds
            value.retryAfterSeconds = try admission.int("retry_after_seconds", in: 0...3600) ?? value.retryAfterSeconds
            value.ratePerToken = try admission.double("rate_per_token", minimum: 0, exclusive: true)
            value.burstPerToken = try admission.double("burst_per_token", minimum: 1)
            value.maxTrackedTokens =
                try admission.int("max_tracked_tokens", in: 1...10_000_000) ?? value.maxTrackedTokens
            config.admission = value
        }
        if let connections = try section("connections") {
            try connections.checkKeys([
                "idle_timeout_seconds", "header_timeout_seconds", "body_timeout_seconds", "max_connections",
                "reserved_file_descriptors",
            ])
            var value = config.connections
            value.idleTimeoutSeconds =
                try connections.double("idle_timeout_seconds", minimum: 0, exclusive: true) ?? value.idleTimeoutSeconds
            value.headerTimeoutSeconds =
                try connections.double("header_timeout_seconds", minimum: 0, exclusive: true)
                ?? value.headerTimeoutSeconds
            value.bodyTimeoutSeconds =
                try connections.double("body_timeout_seconds", minimum: 0, exclusive: true) ?? value.bodyTimeoutSeconds
            value.maxConnections = try connections.int("max_connections", in: 1...10_000_000)
            value.reservedFileDescriptors =
                try connections.int("reserved_file_descriptors", in: 0...100_000) ?? value.reservedFileDescriptors
            config.connections = value
        }
    }
}
