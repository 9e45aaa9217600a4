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

extension YAMLSection {
    /// Reads the learning-loop sections (`exploration`) into `config`.
    func readLearning(into config: inout GatewayConfig) throws(ConfigError) {
        if let exploration = try section("exploration") {
            try exploration.checkKeys(["rate", "seed"])
            let rate = try exploration.double("rate", minimum: 0) ?? 0
            if rate > 1 {
                throw exploration.error("rate", value: "\(rate)", "must be at most 1 (a share of requests)")
            }
            config.exploration.rate = rate
            config.exploration.seed = try exploration.int("seed", in: 0...Int.max).map { UInt64($0) }
        }
    }
}
