import CATImage
import CATImageGateway
import Foundation
import Testing

@Suite("Budget under faults over real HTTP", .serialized)
struct BudgetUnderFaultsTests {
    /// The issue's scenario, bounded: CEMS prompts the router never saw, SDXL-Turbo's server failing every other
    /// request, SD-Turbo's (the cheapest) hanging past its timeout, a target mean cost, concurrent clients.
    @Test(
        "once the hanging generator's breaker opens, requests stop paying timeouts and the chosen cost holds the target"
    )
    func outageReplay() async throws {
        let router = try await TestRouter.shared()
        let harness = try GatewayHarness(predictor: router)
        let names = router.generatorNames
        let costs = router.generatorCosts
        let dead = "SD-Turbo"
        let flaky = "SDXL-Turbo"
        try #require(names.contains(dead) && names.contains(flaky), "the CEMS router must have \(dead) and \(flaky)")
        try #require(costs.indices.min { costs[$0] < costs[$1] }.map { names[$0] } == dead)
        let timeout = 2.0
        let target = 0.45
        let dataset = try await TestRouter.cems()
        let prompts = try TestRouter.replayPrompts(count: 360).map { dataset.prompts[$0].text }
        let healthyCount = 40

        try await harness.run(customise: { config in
            config.generators[dead]?.timeoutSeconds = timeout
            config.budget.targetMeanCost = target
            // No probe during the run, so every request after the opening must be free of timeouts.
            config.breaker.openSeconds = 600
        }) { client, gateway in
            let port = try #require(client.port)
            let concurrency = 4
            let outcome = try await HTTPLoad.with(port: port) { load in
                var healthy: [HTTPLoad.Reply] = []
                var before: [HTTPLoad.Reply] = []
                var after: [HTTPLoad.Reply] = []
                for start in stride(from: 0, to: prompts.count, by: concurrency) {
                    // The first requests meet healthy backends: the latency to come back to, on this machine now.
                    if start == healthyCount {
                        harness.stub(for: dead).behaviour = .stall(seconds: 3 * timeout)
                        harness.stub(for: flaky).behaviour = .alternate(status: 503)
                    }
                    let open = gateway.health.statuses().first { $0.generator == dead }?.state == .open
                    let batch = Array(prompts[start..<min(start + concurrency, prompts.count)])
                    let replies = try await withThrowingTaskGroup(of: HTTPLoad.Reply.self) { group in
                        for prompt in batch {
                            group.addTask {
                                try await load.post("/v1/images/generations", #"{"prompt": \#(jsonString(prompt))}"#)
                            }
                        }
                        var replies: [HTTPLoad.Reply] = []
                        for try await reply in group { replies.append(reply) }
                        return replies
                    }
                    if start < healthyCount {
                        healthy += replies
                    } else if open {
                        after += replies
                    } else {
                        before += replies
                    }
                }
                return (healthy, before, after)
            }
            let (healthy, before, after) = outcome
            let all = healthy + before + after
            #expect(all.allSatisfy { $0.status == 200 }, "statuses: \(Set(all.map(\.status)))")
            #expect(gateway.health.statuses().first { $0.generator == dead }?.state == .open)
            try #require(after.count >= prompts.count / 2, "the breaker opened only after \(before.count) requests")

            func routing(_ reply: HTTPLoad.Reply) -> [String: any Sendable] {
                reply.json["catimage"] as? [String: any Sendable] ?? [:]
            }
            // After the opening: nobody is routed to the dead generator, and nobody pays its timeout.
            #expect(after.allSatisfy { routing($0)["chosen_generator"] as? String != dead })
            let timedOut = after.filter { reply in
                (routing(reply)["fallback_attempts"] as? [any Sendable] ?? []).contains {
                    "\($0)".contains("timeout")
                }
            }
            #expect(timedOut.isEmpty)
            let latencies = after.map(\.seconds).sorted()
            let median = latencies[latencies.count / 2]
            let healthyMedian = healthy.map(\.seconds).sorted()[healthy.count / 2]
            // Back near the healthy figure: a request that paid even one timeout would take the healthy time plus
            // 2 s. The healthy median is measured in this run, so a loaded machine moves both alike.
            #expect(
                median < healthyMedian + timeout / 2,
                "median latency after the opening \(median) s, healthy \(healthyMedian) s, timeout \(timeout) s")

            let snapshot = gateway.budget.snapshot
            let realised = try #require(snapshot.realisedMeanCost)
            #expect(abs(realised - target) / target < 0.05, "realised (chosen) mean cost \(realised) vs \(target)")
            let chosenCosts = after.compactMap { reply in
                (routing(reply)["chosen_generator"] as? String).flatMap { names.firstIndex(of: $0) }.map { costs[$0] }
            }
            let servedCosts = after.compactMap { reply in
                (reply.json["generator"] as? String).flatMap { names.firstIndex(of: $0) }.map { costs[$0] }
            }
            let fallbacks = after.filter { !(routing($0)["fallback_attempts"] as? [any Sendable] ?? []).isEmpty }
            print(
                "outage replay: healthy median \(healthyMedian) s; \(before.count) requests before the breaker opened (median "
                    + "\(before.map(\.seconds).sorted()[before.count / 2]) s), \(after.count) after (median \(median) s, "
                    + "p99 \(latencies[latencies.count * 99 / 100]) s); fallbacks after: \(fallbacks.count); "
                    + "controller's realised \(realised) vs target \(target); after the opening chosen "
                    + "\(chosenCosts.reduce(0, +) / Double(chosenCosts.count)), served "
                    + "\(servedCosts.reduce(0, +) / Double(servedCosts.count)); λ \(snapshot.lambda); "
                    + "\(dead) stub calls \(harness.stub(for: dead).requestCount)")
        }
    }
}
