/// One generator's circuit breaker: closed (traffic flows), open (the generator is skipped), half-open (a few probe
/// requests decide whether it closes again).
///
/// It opens on `consecutiveFailures` failed attempts in a row, on `consecutiveTimeouts` timeouts in a row, or when at
/// least `minimumAttempts` attempts in the last `windowSeconds` failed at a rate of `failureRate` or more. After
/// `openSeconds` it lets `halfOpenProbes` attempts through: one failure re-opens it, `halfOpenProbes` successes close
/// it. A pure value, driven with explicit times, so it is tested without sleeping.
public struct CircuitBreaker: Sendable {
    public enum State: String, Sendable, Equatable, CaseIterable {
        case closed
        case open
        case halfOpen = "half_open"
    }

    /// What the breaker allows for one attempt.
    public enum Permit: Sendable, Equatable {
        /// Closed: go ahead.
        case allowed
        /// Half-open: go ahead as a probe (no retries on failure).
        case probe
        /// Open, or half-open with every probe slot taken.
        case rejected
    }

    /// Why the breaker last opened.
    public enum Trip: String, Sendable, Equatable {
        case consecutiveFailures = "consecutive_failures"
        case consecutiveTimeouts = "consecutive_timeouts"
        case failureRate = "failure_rate"
        case probeFailed = "probe_failed"
    }

    public let settings: GatewayConfig.Breaker
    public private(set) var state = State.closed
    public private(set) var lastTrip: Trip?
    /// Times the breaker opened.
    public private(set) var opened = 0
    private var consecutiveFailures = 0
    private var consecutiveTimeouts = 0
    /// (time, failed) of recent attempts, oldest first, pruned to the window.
    private var recent: [(time: Double, failed: Bool)] = []
    private var openedAt = 0.0
    private var probesInFlight = 0
    private var probeSuccesses = 0

    public init(settings: GatewayConfig.Breaker) { self.settings = settings }

    /// The state at `now`: an open breaker whose cool-down has passed reads as half-open.
    public func state(at now: Double) -> State {
        if state == .open && now - openedAt >= settings.openSeconds { return .halfOpen }
        return state
    }

    /// True when the rule may pick the generator at `now` (closed, or half-open with a probe slot free).
    public func isAvailable(at now: Double) -> Bool {
        switch state(at: now) {
        case .closed: true
        case .open: false
        case .halfOpen: probesInFlight < settings.halfOpenProbes
        }
    }

    /// Seconds until an open breaker lets a probe through (0 when not open).
    public func secondsUntilProbe(at now: Double) -> Double {
        state(at: now) == .open ? max(0, settings.openSeconds - (now - openedAt)) : 0
    }

    /// Asks to send one attempt at `now`; a `.probe` must be followed by ``record(success:timeout:at:probe:)``.
    public mutating func permit(at now: Double) -> Permit {
        guard settings.enabled else { return .allowed }
        if state == .open && now - openedAt >= settings.openSeconds {
            state = .halfOpen
            probesInFlight = 0
            probeSuccesses = 0
        }
        switch state {
        case .closed: return .allowed
        case .open: return .rejected
        case .halfOpen:
            guard probesInFlight < settings.halfOpenProbes else { return .rejected }
            probesInFlight += 1
            return .probe
        }
    }

    /// Records an attempt's outcome. A failure that is not the generator's fault (a 4xx other than 429) should not be
    /// recorded as a failure: the caller passes `success: true` or skips the call for those.
    public mutating func record(success: Bool, timeout: Bool, at now: Double, probe: Bool) {
        guard settings.enabled else { return }
        if probe {
            probesInFlight = max(0, probesInFlight - 1)
            guard state == .halfOpen else { return }
            if success {
                probeSuccesses += 1
                if probeSuccesses >= settings.halfOpenProbes { close() }
            } else {
                trip(.probeFailed, at: now)
            }
            return
        }
        // Attempts let through while closed may finish after the breaker opened: they do not move it.
        guard state == .closed else { return }
        recent.append((now, !success))
        let horizon = now - settings.windowSeconds
        if let firstKept = recent.firstIndex(where: { $0.time >= horizon }), firstKept > 0 {
            recent.removeFirst(firstKept)
        }
        if success {
            consecutiveFailures = 0
            consecutiveTimeouts = 0
            return
        }
        consecutiveFailures += 1
        consecutiveTimeouts = timeout ? consecutiveTimeouts + 1 : 0
        if consecutiveTimeouts >= settings.consecutiveTimeouts {
            trip(.consecutiveTimeouts, at: now)
        } else if consecutiveFailures >= settings.consecutiveFailures {
            trip(.consecutiveFailures, at: now)
        } else if recent.count >= settings.minimumAttempts {
            let failed = recent.reduce(0) { $0 + ($1.failed ? 1 : 0) }
            if Double(failed) / Double(recent.count) >= settings.failureRate { trip(.failureRate, at: now) }
        }
    }

    private mutating func trip(_ reason: Trip, at now: Double) {
        state = .open
        lastTrip = reason
        opened += 1
        openedAt = now
        probesInFlight = 0
        probeSuccesses = 0
        consecutiveFailures = 0
        consecutiveTimeouts = 0
        recent.removeAll()
    }

    private mutating func close() {
        state = .closed
        probesInFlight = 0
        probeSuccesses = 0
        recent.removeAll()
    }
}
