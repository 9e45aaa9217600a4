import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// An open-loop load generator: sends requests at a fixed rate whatever the server's speed, and measures each
/// latency from the moment the request was due (as wrk2 does), so a stalled server cannot hide its queueing delay
/// by slowing the sender down ("coordinated omission").
public enum FixedRateLoad {
    /// What one run measured.
    public struct Result: Sendable, Codable {
        /// Requests per second asked for, and sent.
        public var targetRate: Double
        public var achievedRate: Double
        public var seconds: Double
        public var sent: Int
        public var ok: Int
        /// Responses that were not 2xx, plus transport errors.
        public var errors: Int
        public var p50Milliseconds: Double
        public var p90Milliseconds: Double
        public var p99Milliseconds: Double
        public var maxMilliseconds: Double
    }

    /// POSTs `bodies` (cycled) to `url` at `rate` per second for `seconds`.
    public static func run(
        url: String, bodies: [String], rate: Double, seconds: Double, headers: [(String, String)] = [],
        client: HTTPClient, timeout: TimeAmount = .seconds(10)
    ) async -> Result {
        precondition(rate > 0 && seconds > 0 && !bodies.isEmpty, "need a positive rate and duration and a body")
        let count = max(1, Int(rate * seconds))
        let latencies = NIOLockedValueBox<[Double]>([])
        let errors = NIOLockedValueBox(0)
        let start = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                let due = start + .nanoseconds(Int64(Double(index) / rate * 1e9))
                try? await Task.sleep(until: due, clock: .continuous)
                group.addTask {
                    var request = HTTPClientRequest(url: url)
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: "application/json")
                    for (name, value) in headers { request.headers.add(name: name, value: value) }
                    request.body = .bytes(ByteBuffer(string: bodies[index % bodies.count]))
                    do {
                        let response = try await client.execute(request, timeout: timeout)
                        _ = try await response.body.collect(upTo: 16 << 20)
                        let elapsed = (ContinuousClock.now - due).seconds * 1000
                        if (200..<300).contains(Int(response.status.code)) {
                            latencies.withLockedValue { $0.append(elapsed) }
                        } else {
                            errors.withLockedValue { $0 += 1 }
                        }
                    } catch {
                        errors.withLockedValue { $0 += 1 }
                    }
                }
            }
        }
        let elapsed = (ContinuousClock.now - start).seconds
        let sorted = latencies.withLockedValue { $0 }.sorted()
        func percentile(_ p: Double) -> Double {
            guard !sorted.isEmpty else { return .nan }
            return sorted[min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)]
        }
        return Result(
            targetRate: rate, achievedRate: Double(count) / elapsed, seconds: elapsed, sent: count, ok: sorted.count,
            errors: errors.withLockedValue { $0 }, p50Milliseconds: percentile(0.5), p90Milliseconds: percentile(0.9),
            p99Milliseconds: percentile(0.99), maxMilliseconds: sorted.last ?? .nan)
    }
}
