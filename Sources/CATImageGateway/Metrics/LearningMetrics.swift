import Foundation
import NIOConcurrencyHelpers

/// Counters of the learning loop (issue 13): feedback, exploration, sampled scoring and router reloads, rendered in
/// the Prometheus text format after ``GatewayMetrics``'s.
public final class LearningMetrics: Sendable {
    private struct State {
        /// Feedback rows stored, by origin: `api` (`POST /v1/feedback`) or `scorer` (the gateway's sampled scoring).
        var feedback: [String: UInt64] = [:]
        var explored: UInt64 = 0
        /// Sampled images by outcome: `queued`, `dropped` (queue full), `scored`, `failed`.
        var scoring: [String: UInt64] = [:]
        /// Reloads by result: `ok`, `refused` (generators do not match), `failed` (unreadable or invalid file).
        var reloads: [String: UInt64] = [:]
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    func recordFeedback(origin: String) { state.withLockedValue { $0.feedback[origin, default: 0] += 1 } }
    func recordExplored() { state.withLockedValue { $0.explored += 1 } }
    func recordScoring(_ outcome: String, count: Int = 1) {
        state.withLockedValue { $0.scoring[outcome, default: 0] += UInt64(count) }
    }
    func recordReload(_ result: String) { state.withLockedValue { $0.reloads[result, default: 0] += 1 } }

    /// Samples dropped because the scoring queue was full.
    public var droppedSamples: UInt64 { state.withLockedValue { $0.scoring["dropped"] ?? 0 } }

    /// The Prometheus text of these counters.
    public func render() -> String {
        let state = self.state.withLockedValue { $0 }
        var out = ""
        func counter(_ name: String, _ help: String, _ label: String, _ keys: [String], _ values: [String: UInt64]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) counter\n"
            for key in Set(keys).union(values.keys).sorted() {
                out += "\(name){\(label)=\"\(GatewayMetrics.escape(key))\"} \(values[key] ?? 0)\n"
            }
        }
        counter(
            "catimage_feedback_total", "Feedback rows stored, by origin (api: POST /v1/feedback; scorer: sampled).",
            "origin", ["api", "scorer"], state.feedback)
        out += "# HELP catimage_explored_total Routed requests whose generator exploration replaced.\n"
        out += "# TYPE catimage_explored_total counter\ncatimage_explored_total \(state.explored)\n"
        counter(
            "catimage_scoring_samples_total",
            "Sampled images by outcome (queued, dropped because the queue was full, scored, failed).", "outcome",
            ["queued", "dropped", "scored", "failed"], state.scoring)
        counter(
            "catimage_router_reloads_total", "Router reloads by result (ok, refused, failed).", "result",
            ["ok", "refused", "failed"], state.reloads)
        return out
    }
}
