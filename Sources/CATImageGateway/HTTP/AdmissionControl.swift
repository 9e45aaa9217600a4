import NIOConcurrencyHelpers
import NIOCore

/// Admission control of `/v1/*`: at most `maxInFlight` requests at once, a bounded queue with a deadline behind
/// them, and a token bucket per bearer token. A request beyond them is refused at once (429 or 503 with
/// `Retry-After`) instead of waiting behind others until every client times out.
public final class AdmissionControl: Sendable {
    /// Why a request was refused.
    public enum Refusal: String, Sendable, CaseIterable {
        /// Its token's bucket is empty (429).
        case rateLimited = "rate_limited"
        /// The queue is full (503 at once).
        case queueFull = "queue_full"
        /// It waited in the queue past the deadline (503).
        case queueTimeout = "queue_timeout"
    }

    /// Counts for `/healthz`, `/readyz` and `/metrics`.
    public struct Snapshot: Sendable, Equatable {
        public var inFlight: Int
        public var queued: Int
        public var refused: [Refusal: Int]
        /// A request was shed (503) in the last `overloadMemorySeconds`, or the queue is over half full.
        public var overloaded: Bool
    }

    /// How long after the last shed request `/healthz` and `/readyz` still report overload.
    public static let overloadMemorySeconds = 5.0

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct Bucket {
        var tokens: Double
        var updated: Double
    }

    private struct State {
        var inFlight = 0
        var waiters = CircularBuffer<Waiter>()
        var nextID: UInt64 = 0
        var buckets: [String: Bucket] = [:]
        var refused: [Refusal: Int] = [:]
        var lastShed: Double?
    }

    public let settings: GatewayConfig.Admission
    private let state = NIOLockedValueBox(State())
    private let start = ContinuousClock.now

    public init(settings: GatewayConfig.Admission) { self.settings = settings }

    private var now: Double { (ContinuousClock.now - start).seconds }

    /// Takes one token from `token`'s bucket; returns the seconds until one is available when it is empty.
    public func takeRateToken(for token: String) -> Double? {
        guard let rate = settings.ratePerToken else { return nil }
        let burst = settings.burstPerToken ?? max(1, 2 * rate)
        let now = self.now
        return state.withLockedValue { state in
            var bucket = state.buckets[token] ?? Bucket(tokens: burst, updated: now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                if state.buckets[token] == nil && state.buckets.count >= settings.maxTrackedTokens,
                    let oldest = state.buckets.min(by: { $0.value.updated < $1.value.updated })?.key
                {
                    state.buckets[oldest] = nil
                }
                state.buckets[token] = bucket
                return nil
            }
            state.buckets[token] = bucket
            state.refused[.rateLimited, default: 0] += 1
            return (1 - bucket.tokens) / rate
        }
    }

    /// Waits for a slot: `nil` once admitted (call ``release()`` when done), else why it was refused.
    public func acquire() async -> Refusal? {
        enum Step {
            case admitted
            case refused
            case queued(UInt64)
        }
        var step = Step.refused
        let admitted = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            step = state.withLockedValue { state in
                if state.inFlight < settings.maxInFlight {
                    state.inFlight += 1
                    return .admitted
                }
                guard state.waiters.count < settings.maxQueue, settings.queueTimeoutSeconds > 0 else {
                    return .refused
                }
                state.nextID += 1
                state.waiters.append(Waiter(id: state.nextID, continuation: continuation))
                return .queued(state.nextID)
            }
            switch step {
            case .admitted: continuation.resume(returning: true)
            case .refused: continuation.resume(returning: false)
            case .queued(let id):
                let deadline = settings.queueTimeoutSeconds
                Task {
                    try? await Task.sleep(for: .milliseconds(Int64(deadline * 1000)))
                    self.expire(id)
                }
            }
        }
        if admitted { return nil }
        let reason: Refusal
        if case .queued = step { reason = .queueTimeout } else { reason = .queueFull }
        let now = self.now
        state.withLockedValue { state in
            state.refused[reason, default: 0] += 1
            state.lastShed = now
        }
        return reason
    }

    /// Removes a waiter still queued at its deadline and refuses it.
    private func expire(_ id: UInt64) {
        let waiter: Waiter? = state.withLockedValue { state in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(returning: false)
    }

    /// Frees a slot: the longest-waiting request takes it.
    public func release() {
        let next: Waiter? = state.withLockedValue { state in
            if let waiter = state.waiters.popFirst() { return waiter }
            state.inFlight -= 1
            return nil
        }
        next?.continuation.resume(returning: true)
    }

    public var snapshot: Snapshot {
        let now = self.now
        return state.withLockedValue { state in
            let recentlyShed = state.lastShed.map { now - $0 < Self.overloadMemorySeconds } ?? false
            let queueHalfFull = settings.maxQueue > 0 && state.waiters.count * 2 > settings.maxQueue
            return Snapshot(
                inFlight: state.inFlight, queued: state.waiters.count, refused: state.refused,
                overloaded: recentlyShed || queueHalfFull)
        }
    }
}
