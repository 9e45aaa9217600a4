import NIOConcurrencyHelpers

/// The circuit breakers of every generator, in the router's generator order, on one clock.
public final class GeneratorHealth: Sendable {
    /// One generator's breaker as `/healthz` and `/metrics` show it.
    public struct Status: Sendable, Equatable {
        public var generator: String
        public var state: CircuitBreaker.State
        /// Times the breaker opened since the gateway started.
        public var opened: Int
        public var lastTrip: CircuitBreaker.Trip?
        /// Seconds until an open breaker lets a probe through.
        public var secondsUntilProbe: Double
    }

    public let generatorNames: [String]
    public let settings: GatewayConfig.Breaker
    private let breakers: NIOLockedValueBox<[CircuitBreaker]>
    private let clock: @Sendable () -> Double

    /// - Parameter clock: seconds on a monotonic clock; the default counts from this call. Tests pass their own to
    ///   move time on without sleeping.
    public init(
        generatorNames: [String], settings: GatewayConfig.Breaker, clock: (@Sendable () -> Double)? = nil
    ) {
        self.generatorNames = generatorNames
        self.settings = settings
        breakers = NIOLockedValueBox(Array(repeating: CircuitBreaker(settings: settings), count: generatorNames.count))
        let start = ContinuousClock.now
        self.clock = clock ?? { (ContinuousClock.now - start).seconds }
    }

    private var now: Double { clock() }

    /// Whether the rule may pick each generator now, in the router's order.
    public func availability() -> [Bool] {
        let now = self.now
        return breakers.withLockedValue { $0.map { $0.isAvailable(at: now) } }
    }

    /// Asks to send one attempt to generator `index`.
    public func permit(_ index: Int) -> CircuitBreaker.Permit {
        let now = self.now
        return breakers.withLockedValue { $0[index].permit(at: now) }
    }

    /// Records an attempt's outcome: `nil` for a success. Client errors (4xx other than 429) count as successes,
    /// since they say nothing about the generator's health.
    public func record(_ index: Int, failure: BackendFailure?, probe: Bool) {
        let now = self.now
        let failed: Bool
        if let failure {
            if failure.reason == .httpStatus, let status = failure.status, (400..<500).contains(status), status != 429 {
                failed = false
            } else {
                failed = true
            }
        } else {
            failed = false
        }
        breakers.withLockedValue {
            $0[index].record(success: !failed, timeout: failure?.reason == .timeout, at: now, probe: probe)
        }
    }

    /// Every generator's breaker now.
    public func statuses() -> [Status] {
        let now = self.now
        return breakers.withLockedValue { breakers in
            zip(generatorNames, breakers).map { name, breaker in
                Status(
                    generator: name, state: breaker.state(at: now), opened: breaker.opened, lastTrip: breaker.lastTrip,
                    secondsUntilProbe: breaker.secondsUntilProbe(at: now))
            }
        }
    }

    /// Seconds until the first open breaker lets a probe through (for `Retry-After` when every generator is open).
    public func secondsUntilAnyProbe() -> Double {
        let now = self.now
        return breakers.withLockedValue { $0.map { $0.secondsUntilProbe(at: now) }.min() ?? 0 }
    }
}
