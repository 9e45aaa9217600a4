import CATImageCore
import NIOConcurrencyHelpers

/// Random numbers shared by concurrent requests: seeded for reproducible runs, else seeded from the system.
public final class SharedRandom: Sendable {
    private let generator: NIOLockedValueBox<SeededGenerator>

    public init(seed: UInt64?) {
        var system = SystemRandomNumberGenerator()
        generator = NIOLockedValueBox(SeededGenerator(seed: seed ?? system.next()))
    }

    /// A number in [0, 1).
    public func unit() -> Double { generator.withLockedValue { Double.random(in: 0..<1, using: &$0) } }

    /// An index in `0..<count` (`count` > 0), each equally likely.
    public func index(below count: Int) -> Int {
        generator.withLockedValue { Int.random(in: 0..<count, using: &$0) }
    }
}

/// Uniform ε-exploration: with probability ε the rule's pick is replaced by a generator drawn uniformly from the
/// live ones (the rule's pick included).
///
/// Uniform rather than a softmax over scores: the probability of every choice is then known exactly from ε and the
/// number K of live generators alone (no temperature, no dependence on the router's predictions), and it is never
/// below ε/K, so inverse-propensity weights stay bounded by K/ε.
public struct Exploration: Sendable {
    /// The generator served and the probability with which the policy chose it.
    public struct Pick: Sendable, Equatable {
        /// Index of the chosen generator in the router's order.
        public var index: Int
        /// True when the draw replaced the rule's pick by another generator.
        public var explored: Bool
        /// `1 - ε + ε/K` for the rule's pick, `ε/K` for any other (1 when ε = 0 or K = 1).
        public var propensity: Double
    }

    public let rate: Double
    private let random: SharedRandom

    /// - Parameter rate: ε, in [0, 1].
    public init(rate: Double, seed: UInt64? = nil) {
        precondition(rate >= 0 && rate <= 1, "the exploration rate must be in [0, 1]")
        self.rate = rate
        self.random = SharedRandom(seed: seed)
    }

    /// The pick for one decision: `rule` is the rule's choice, `eligible` the live generators (which hold `rule`).
    public func pick(rule: Int, eligible: [Int]) -> Pick {
        let count = eligible.count
        guard rate > 0, count > 1, eligible.contains(rule) else {
            return Pick(index: rule, explored: false, propensity: 1)
        }
        let share = rate / Double(count)
        if random.unit() < rate {
            let drawn = eligible[random.index(below: count)]
            if drawn != rule { return Pick(index: drawn, explored: true, propensity: share) }
        }
        return Pick(index: rule, explored: false, propensity: 1 - rate + share)
    }
}
