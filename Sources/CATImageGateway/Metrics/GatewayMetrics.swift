import Foundation
import NIOConcurrencyHelpers

/// The gateway's counters, gauges and histograms, rendered in the Prometheus text format (version 0.0.4).
public final class GatewayMetrics: Sendable {
    /// Upper bounds, in seconds, of the latency histograms' buckets.
    public static let latencyBuckets: [Double] = [
        0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
    ]

    private struct Histogram {
        var counts: [UInt64] = Array(repeating: 0, count: GatewayMetrics.latencyBuckets.count)
        var sum = 0.0
        var count: UInt64 = 0

        mutating func observe(_ value: Double) {
            for (index, bound) in GatewayMetrics.latencyBuckets.enumerated() where value <= bound {
                counts[index] += 1
            }
            sum += value
            count += 1
        }
    }

    private struct State {
        var requests: [[String]: UInt64] = [:]  // [route, status]
        var requestLatency: [[String]: Histogram] = [:]  // [route]
        var decisions: [[String]: UInt64] = [:]  // [generator, endpoint]
        var decisionLatency = Histogram()
        var backendErrors: [[String]: UInt64] = [:]  // [generator, reason]
        var backendLatency: [[String]: Histogram] = [:]  // [generator]
        var servedCostTotal = 0.0
        var servedTotal: UInt64 = 0
        var logErrors: UInt64 = 0
        var skipped: [[String]: UInt64] = [:]  // [generator]
        var fallbacks: [[String]: UInt64] = [:]  // [from, to]
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    func recordRequest(route: String, status: Int, seconds: Double) {
        state.withLockedValue { state in
            state.requests[[route, String(status)], default: 0] += 1
            state.requestLatency[[route], default: Histogram()].observe(seconds)
        }
    }

    func recordDecision(generator: String, endpoint: String, seconds: Double) {
        state.withLockedValue { state in
            state.decisions[[generator, endpoint], default: 0] += 1
            state.decisionLatency.observe(seconds)
        }
    }

    func recordBackend(generator: String, seconds: Double, error reason: String?) {
        state.withLockedValue { state in
            state.backendLatency[[generator], default: Histogram()].observe(seconds)
            if let reason { state.backendErrors[[generator, reason], default: 0] += 1 }
        }
    }

    func recordServed(cost: Double) {
        state.withLockedValue { state in
            state.servedCostTotal += cost
            state.servedTotal += 1
        }
    }

    func recordLogError() { state.withLockedValue { $0.logErrors += 1 } }

    func recordSkipped(_ generators: [String]) {
        state.withLockedValue { state in
            for generator in generators { state.skipped[[generator], default: 0] += 1 }
        }
    }

    func recordFallback(from chosen: String, to served: String) {
        state.withLockedValue { $0.fallbacks[[chosen, served], default: 0] += 1 }
    }

    /// The text `/metrics` serves; `budget` supplies the live λ and realised cost, `breakers` the breaker states.
    public func render(
        budget: BudgetController.Snapshot, breakers: [GeneratorHealth.Status] = [],
        admission: AdmissionControl.Snapshot? = nil
    ) -> String {
        let state = self.state.withLockedValue { $0 }
        var out = ""
        func header(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func labels(_ names: [String], _ values: [String]) -> String {
            let pairs = zip(names, values).map { "\($0)=\"\(Self.escape($1))\"" }
            return pairs.isEmpty ? "" : "{\(pairs.joined(separator: ","))}"
        }
        func counter(_ name: String, _ help: String, _ names: [String], _ values: [[String]: UInt64]) {
            header(name, "counter", help)
            for (key, value) in values.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
                out += "\(name)\(labels(names, key)) \(value)\n"
            }
        }
        func histogram(_ name: String, _ labelNames: [String], _ key: [String], _ histogram: Histogram) {
            for (index, bound) in Self.latencyBuckets.enumerated() {
                out +=
                    "\(name)_bucket\(labels(labelNames + ["le"], key + [Self.number(bound)])) \(histogram.counts[index])\n"
            }
            out += "\(name)_bucket\(labels(labelNames + ["le"], key + ["+Inf"])) \(histogram.count)\n"
            out += "\(name)_sum\(labels(labelNames, key)) \(Self.number(histogram.sum))\n"
            out += "\(name)_count\(labels(labelNames, key)) \(histogram.count)\n"
        }

        counter(
            "catimage_http_requests_total", "HTTP requests by route and status.", ["route", "status"], state.requests)
        header("catimage_http_request_duration_seconds", "histogram", "HTTP request latency by route.")
        for (key, value) in state.requestLatency.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            histogram("catimage_http_request_duration_seconds", ["route"], key, value)
        }
        counter(
            "catimage_decisions_total", "Routing decisions by chosen generator and endpoint.",
            ["generator", "endpoint"], state.decisions)
        header("catimage_decision_duration_seconds", "histogram", "Time to decide (embedding and prediction).")
        histogram("catimage_decision_duration_seconds", [], [], state.decisionLatency)
        counter(
            "catimage_backend_errors_total", "Failed backend attempts by generator and reason.",
            ["generator", "reason"], state.backendErrors)
        header("catimage_backend_request_duration_seconds", "histogram", "Backend attempt latency by generator.")
        for (key, value) in state.backendLatency.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            histogram("catimage_backend_request_duration_seconds", ["generator"], key, value)
        }
        header("catimage_lambda", "gauge", "The λ routed requests use now.")
        out += "catimage_lambda \(Self.number(budget.lambda))\n"
        if let target = budget.target {
            header("catimage_budget_target_mean_cost", "gauge", "The target mean cost per request.")
            out += "catimage_budget_target_mean_cost \(Self.number(target))\n"
        }
        header(
            "catimage_realised_mean_cost", "gauge",
            "Mean cost of the generators that served recent routed requests (feedback horizon).")
        out += "catimage_realised_mean_cost \(Self.number(budget.realisedMeanCost ?? 0))\n"
        header("catimage_served_cost_total", "counter", "Sum of the costs of generators that produced images.")
        out += "catimage_served_cost_total \(Self.number(state.servedCostTotal))\n"
        header("catimage_images_served_total", "counter", "Image requests answered by a backend.")
        out += "catimage_images_served_total \(state.servedTotal)\n"
        header("catimage_decision_log_errors_total", "counter", "Decision-log writes that failed.")
        out += "catimage_decision_log_errors_total \(state.logErrors)\n"
        header(
            "catimage_breaker_state", "gauge",
            "Circuit breaker state by generator: 1 for the current state (closed, open, half_open), else 0.")
        for status in breakers {
            for candidate in CircuitBreaker.State.allCases {
                let value = candidate == status.state ? 1 : 0
                out +=
                    "catimage_breaker_state\(labels(["generator", "state"], [status.generator, candidate.rawValue])) \(value)\n"
            }
        }
        header("catimage_breaker_opened_total", "counter", "Times each generator's circuit breaker opened.")
        for status in breakers {
            out += "catimage_breaker_opened_total\(labels(["generator"], [status.generator])) \(status.opened)\n"
        }
        counter(
            "catimage_breaker_skipped_total",
            "Decisions that skipped a generator ranked higher because its breaker was open.",
            ["generator"], state.skipped)
        if let admission {
            header("catimage_admission_in_flight", "gauge", "Requests to /v1 being handled.")
            out += "catimage_admission_in_flight \(admission.inFlight)\n"
            header("catimage_admission_queued", "gauge", "Requests to /v1 waiting for a slot.")
            out += "catimage_admission_queued \(admission.queued)\n"
            header("catimage_admission_refused_total", "counter", "Requests refused by admission control, by reason.")
            for reason in AdmissionControl.Refusal.allCases {
                out += "catimage_admission_refused_total\(labels(["reason"], [reason.rawValue])) "
                out += "\(admission.refused[reason] ?? 0)\n"
            }
            header("catimage_overloaded", "gauge", "1 while the gateway sheds load.")
            out += "catimage_overloaded \(admission.overloaded ? 1 : 0)\n"
        }
        counter(
            "catimage_fallbacks_total", "Image requests served by another generator than the one chosen.",
            ["chosen", "served"], state.fallbacks)
        return out
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return "\(value)"
    }
}
