import CATImage
import CATImageGateway
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Circuit breaker state machine")
struct CircuitBreakerTests {
    static func settings(_ change: (inout GatewayConfig.Breaker) -> Void = { _ in }) -> GatewayConfig.Breaker {
        var settings = GatewayConfig.Breaker()
        settings.consecutiveFailures = 3
        settings.consecutiveTimeouts = 2
        settings.failureRate = 0.5
        settings.minimumAttempts = 6
        settings.windowSeconds = 10
        settings.openSeconds = 5
        change(&settings)
        return settings
    }

    @Test("consecutive failures open it; after the cool-down one probe passes and its success closes it")
    func opensAndCloses() {
        var breaker = CircuitBreaker(settings: Self.settings())
        for time in [0.0, 0.1] {
            #expect(breaker.permit(at: time) == .allowed)
            breaker.record(success: false, timeout: false, at: time, probe: false)
        }
        #expect(breaker.state == .closed)
        breaker.record(success: false, timeout: false, at: 0.2, probe: false)
        #expect(breaker.state == .open && breaker.lastTrip == .consecutiveFailures)
        #expect(breaker.permit(at: 1) == .rejected)
        #expect(!breaker.isAvailable(at: 4.9))
        #expect(breaker.secondsUntilProbe(at: 1.2) > 3.9)
        // Cool-down over: half-open, one probe slot.
        #expect(breaker.isAvailable(at: 5.3))
        #expect(breaker.permit(at: 5.3) == .probe)
        #expect(breaker.permit(at: 5.4) == .rejected)
        #expect(!breaker.isAvailable(at: 5.4))
        breaker.record(success: true, timeout: false, at: 5.5, probe: true)
        #expect(breaker.state == .closed)
        #expect(breaker.permit(at: 5.6) == .allowed)
        #expect(breaker.opened == 1)
    }

    @Test("a failed probe re-opens it for another cool-down")
    func probeFailureReopens() {
        var breaker = CircuitBreaker(settings: Self.settings())
        for time in [0.0, 0.1, 0.2] { breaker.record(success: false, timeout: false, at: time, probe: false) }
        #expect(breaker.permit(at: 6) == .probe)
        breaker.record(success: false, timeout: true, at: 6.5, probe: true)
        #expect(breaker.state == .open && breaker.lastTrip == .probeFailed && breaker.opened == 2)
        #expect(breaker.permit(at: 10) == .rejected)
        #expect(breaker.permit(at: 11.6) == .probe)
    }

    @Test("two timeouts in a row open it before the failure count does; a success in between resets the run")
    func timeoutsOpen() {
        var breaker = CircuitBreaker(settings: Self.settings { $0.consecutiveFailures = 10 })
        breaker.record(success: false, timeout: true, at: 0, probe: false)
        breaker.record(success: true, timeout: false, at: 0.1, probe: false)
        breaker.record(success: false, timeout: true, at: 0.2, probe: false)
        #expect(breaker.state == .closed)
        breaker.record(success: false, timeout: true, at: 0.3, probe: false)
        #expect(breaker.state == .open && breaker.lastTrip == .consecutiveTimeouts)
    }

    @Test("the failure rate over the window opens it; failures older than the window are forgotten")
    func failureRateWindow() {
        var breaker = CircuitBreaker(settings: Self.settings())
        // Alternating outcomes: never two failures in a row, 50% of attempts.
        for step in 0..<5 {
            breaker.record(success: step % 2 == 1, timeout: false, at: Double(step) * 0.1, probe: false)
        }
        #expect(breaker.state == .closed)  // 5 attempts < minimumAttempts
        // Much later: the old attempts have left the window, so six new ones decide alone.
        for step in 0..<5 { breaker.record(success: true, timeout: false, at: 100 + Double(step), probe: false) }
        breaker.record(success: false, timeout: false, at: 105.5, probe: false)
        #expect(breaker.state == .closed)  // 1 of 6 failed
        // The rate is checked when an attempt fails: the 7th attempt fails, making 4 of 7.
        var failing = CircuitBreaker(settings: Self.settings())
        for step in 0..<7 {
            failing.record(success: step % 2 == 1, timeout: false, at: Double(step) * 0.1, probe: false)
        }
        #expect(failing.state == .open && failing.lastTrip == .failureRate)
    }

    @Test("disabled breakers always allow and never open")
    func disabled() {
        var breaker = CircuitBreaker(settings: Self.settings { $0.enabled = false })
        for time in 0..<20 { breaker.record(success: false, timeout: true, at: Double(time), probe: false) }
        #expect(breaker.state == .closed && breaker.permit(at: 30) == .allowed)
    }

    @Test("the example config spells out the breaker, admission and connection defaults it documents")
    func exampleMatchesDefaults() throws {
        let config = try GatewayConfig.parse(yaml: GatewayConfig.exampleYAML, environment: ["AMUSED_API_KEY": "k"])
        #expect(config.breaker == GatewayConfig.Breaker())
        #expect(config.admission == GatewayConfig.Admission())
        #expect(config.connections == GatewayConfig.Connections())
    }

    @Test("the breaker section is read with defaults for what it leaves out, and bad values are located")
    func config() throws {
        let base = ConfigFixture.minimal
        let defaults = try GatewayConfig.parse(yaml: base)
        #expect(defaults.breaker == GatewayConfig.Breaker())
        let custom = try GatewayConfig.parse(
            yaml: base + "\nbreaker: {consecutive_failures: 4, open_seconds: 2.5, half_open_probes: 2, enabled: true}")
        #expect(custom.breaker.consecutiveFailures == 4)
        #expect(custom.breaker.openSeconds == 2.5)
        #expect(custom.breaker.halfOpenProbes == 2)
        #expect(custom.breaker.consecutiveTimeouts == GatewayConfig.Breaker().consecutiveTimeouts)
        #expect(throws: ConfigError.self) { try GatewayConfig.parse(yaml: base + "\nbreaker: {failure_rate: 1.5}") }
        do {
            _ = try GatewayConfig.parse(yaml: base + "\nbreaker: {open_sec: 2}")
            Issue.record("an unknown key must be rejected")
        } catch {
            #expect(error.key == "breaker.open_sec")
        }
    }
}

@Suite("Health-aware routing over real HTTP", .serialized)
struct HealthAwareRoutingTests {
    let harness: GatewayHarness

    init() async throws { harness = try GatewayHarness(predictor: try await TestRouter.shared()) }

    @Test("an open generator is skipped by the rule, shown in /healthz and /metrics, and closes after a probe")
    func skipOpenGenerator() async throws {
        let prompt = "a lighthouse on a cliff at dusk"
        let predicted = try #require(harness.predictor.predictQualities(for: [prompt]).first)
        let ranking = RoutingRule.ranking(predicted: predicted, costs: harness.predictor.generatorCosts, lambda: 0)
        let order = ranking.map { harness.predictor.generatorNames[$0] }
        let body = #"{"prompt": \#(jsonString(prompt)), "lambda": 0}"#
        // The breakers' clock moves only when the test says, so a slow machine cannot turn the breaker half-open
        // before the checks of the open state.
        let clock = ManualClock()
        try await harness.run(
            customise: { config in
                config.breaker.consecutiveFailures = 2
                config.breaker.openSeconds = 4
            }, breakerClock: clock.reading
        ) { client, gateway in
            let top = harness.stub(for: order[0])
            top.behaviour = .fail(status: 503)
            // Two failed attempts (try and retry) open the top generator's breaker; the second serves.
            let first = try await client.postJSON("/v1/images/generations", body)
            #expect(first.status == .ok)
            #expect(first.headers[HTTPField.Name("x-catimage-generator")!] == order[1])
            #expect(top.requestCount == 2)

            // Now the rule chooses the next best without trying the open one.
            let route = try await client.postJSON("/v1/route", body)
            #expect(route.json["generator"] as? String == order[1])
            #expect(route.json["skipped_generators"] as? [String] == [order[0]])
            let second = try await client.postJSON("/v1/images/generations", body)
            #expect(second.status == .ok)
            let routing = second.json["catimage"] as? [String: Any]
            #expect(routing?["chosen_generator"] as? String == order[1])
            #expect((routing?["fallback_attempts"] as? [String])?.isEmpty == true)
            #expect(top.requestCount == 2)

            let health = try await client.execute(uri: "/healthz", method: .get)
            let healthJSON =
                try JSONSerialization.jsonObject(with: Data(health.body.readableBytesView)) as? [String: Any]
            #expect(healthJSON?["status"] as? String == "degraded")
            let breakers = healthJSON?["breakers"] as? [[String: Any]] ?? []
            let topBreaker = breakers.first { $0["generator"] as? String == order[0] }
            #expect(topBreaker?["state"] as? String == "open")
            #expect(topBreaker?["last_trip"] as? String == "consecutive_failures")
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"catimage_breaker_state{generator="\#(order[0])",state="open"} 1"#))
            #expect(metrics.contains(#"catimage_breaker_opened_total{generator="\#(order[0])"} 1"#))
            #expect(metrics.contains(#"catimage_breaker_skipped_total{generator="\#(order[0])"} 2"#))
            #expect(metrics.contains(#"catimage_fallbacks_total{chosen="\#(order[0])",served="\#(order[1])"} 1"#))

            // The server recovers; after the cool-down one probe request goes to it and closes the breaker.
            top.behaviour = .succeed
            clock.advance(by: 3.9)
            let stillOpen = try await client.postJSON("/v1/route", body)
            #expect(stillOpen.json["skipped_generators"] as? [String] == [order[0]])
            clock.advance(by: 0.2)
            let probe = try await client.postJSON("/v1/images/generations", body)
            #expect(probe.headers[HTTPField.Name("x-catimage-generator")!] == order[0])
            #expect(gateway.health.statuses().allSatisfy { $0.state == .closed })
            let healthy = try await client.execute(uri: "/healthz", method: .get)
            #expect(String(buffer: healthy.body).contains(#""status":"ok""#))
        }
    }

    @Test("a forced generator whose breaker is open gets 503 with Retry-After, without a backend call")
    func forcedOpenGenerator() async throws {
        let name = harness.predictor.generatorNames[0]
        try await harness.run(customise: { config in
            config.breaker.consecutiveFailures = 2
            config.breaker.openSeconds = 30
        }) { client, _ in
            let stub = harness.stub(for: name)
            stub.behaviour = .fail(status: 500)
            let body = #"{"prompt": "a cat", "model": \#(jsonString(name))}"#
            let failed = try await client.postJSON("/v1/images/generations", body)
            #expect(failed.status == .badGateway)
            let refused = try await client.postJSON("/v1/images/generations", body)
            #expect(refused.status == .serviceUnavailable)
            #expect((refused.json["error"] as? [String: Any])?["code"] as? String == "generator_unavailable")
            #expect(Int(refused.headers[.retryAfter] ?? "") ?? 0 >= 1)
            #expect(stub.requestCount == 2)
        }
    }
}
