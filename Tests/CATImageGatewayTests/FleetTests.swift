import AsyncHTTPClient
import CATImage
import CATImageCore
import CATImageGateway
import CATImageTestSupport
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing

@Suite("Fleet: replicas behind nginx sharing one PostgreSQL log and budget", .serialized)
struct FleetTests {
    /// POSTs `/v1/route` with a request ID; the status (0 when no response).
    static func route(
        _ client: HTTPClient, port: Int, id: String, prompt: String, timeout: Int64 = 30
    ) async -> Int {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/route")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "X-Request-ID", value: id)
        request.body = .bytes(ByteBuffer(string: #"{"prompt": \#(jsonString(prompt))}"#))
        do {
            let response = try await client.execute(request, timeout: .seconds(timeout))
            _ = try await response.body.collect(upTo: 1 << 20)
            return Int(response.status.code)
        } catch {
            return 0
        }
    }

    /// The λ a replica's `/healthz` reports (-1 when absent).
    static func lambda(_ client: HTTPClient, port: Int) async throws -> Double {
        let health = try await get(client, port: port, path: "/healthz")
        let object = try JSONSerialization.jsonObject(with: Data(health.utf8)) as? [String: Any]
        return object?["lambda"] as? Double ?? -1
    }

    static func get(_ client: HTTPClient, port: Int, path: String) async throws -> String {
        let response = try await client.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 22)
        return String(buffer: body)
    }

    @Test("kill -9 of one replica under load through nginx: traffic moves on, every 200 is in PostgreSQL exactly once")
    func killOneReplica() async throws {
        var settings = try await TestPostgres.freshDatabase()
        settings.writeTimeoutSeconds = 30
        try await TestCluster.with { cluster in try await Self.killOneReplica(cluster, settings: settings) }
    }

    static func killOneReplica(_ cluster: TestCluster, settings: GatewayConfig.Log.Postgres) async throws {
        let configPath = cluster.directory.appendingPathComponent("gateway.yaml").path
        // A long write timeout: on a loaded test machine a commit never outlasts it, so every response waited for
        // its row's commit (the guarantee under test).
        try await TestCluster.config(postgres: settings, extraPostgres: ", write_timeout_seconds: 30").write(
            toFile: configPath, atomically: true, encoding: .utf8)
        let nginxPort = try closedPort()
        let replicaPorts = try await cluster.start(config: configPath, replicas: 2, port: nginxPort)
        #expect(replicaPorts.count == 2)

        let ok = NIOLockedValueBox<[String]>([])
        let failures = NIOLockedValueBox<(beforeKill: Int, afterKill: Int)>((0, 0))
        let killed = NIOLockedValueBox<Bool>(false)
        let okAfterKill = NIOLockedValueBox<Int>(0)
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let workers = 4
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    for index in 0..<2000 {
                        if okAfterKill.withLockedValue({ $0 }) >= 100 { return }
                        let id = "fleet-kill-\(worker)-\(index)"
                        let status = await Self.route(
                            client, port: nginxPort, id: id, prompt: "prompt \(worker) \(index) of the fleet kill test")
                        let afterKill = killed.withLockedValue { $0 }
                        if status == 200 {
                            ok.withLockedValue { $0.append(id) }
                            if afterKill { okAfterKill.withLockedValue { $0 += 1 } }
                        } else {
                            failures.withLockedValue {
                                if afterKill { $0.afterKill += 1 } else { $0.beforeKill += 1 }
                            }
                        }
                    }
                }
            }
            for _ in 0..<2400 where ok.withLockedValue({ $0.count }) < 100 {
                try await Task.sleep(for: .milliseconds(50))
            }
            kill(try cluster.pid(ofReplica: 1), SIGKILL)
            killed.withLockedValue { $0 = true }
            try await group.waitForAll()
        }
        try await client.shutdown()

        let ids = ok.withLockedValue { $0 }
        let (before, after) = failures.withLockedValue { $0 }
        #expect(before == 0, "requests failed before the kill: \(before)")
        // Only requests in flight on the killed replica may fail; every later one goes to the survivor.
        #expect(after <= workers, "\(after) requests failed after the kill")
        #expect(okAfterKill.withLockedValue { $0 } >= 100, "nginx did not move the traffic to the other replica")
        let store = try await PostgresDecisionLog.openForReading(settings: settings, logger: TestPostgres.logger)
        let counts = try await store.requestIDCounts()
        await store.close()
        let missing = ids.filter { counts[$0] == nil }
        #expect(
            missing.isEmpty,
            "\(missing.count) of \(ids.count) answered requests are not in PostgreSQL: \(missing.prefix(3))")
        #expect(counts.values.allSatisfy { $0 == 1 })
        #expect(Set(ids).count == ids.count)
    }

    @Test("a skewed replay (one replica gets the expensive prompts) holds the fleet's mean cost within 5% of target")
    func skewedReplayHoldsFleetBudget() async throws {
        let dataset = try await TestRouter.cems()
        let router = try await TestRouter.shared()
        let replay = try TestRouter.replayPrompts(count: 1200).map { dataset.prompts[$0].text }
        // The budget the drifting single-process replay holds (BudgetReplayTests).
        let target = 0.35
        // Expensive prompts: those whose pick at the offline λ for the target costs most (ties: the larger predicted
        // gain over the cheapest generator). A load balancer with prompt affinity could hand one replica these.
        let predicted = try await onOwnThread { router.predictQualities(for: replay) }
        let costs = router.generatorCosts
        let lambda = router.lambda(forBudget: target) ?? router.defaultLambda
        let cheapest = costs.indices.min { costs[$0] < costs[$1] } ?? 0
        let keyed = zip(replay, predicted).map { prompt, row in
            let pick = RoutingRule.choose(predicted: row, costs: costs, lambda: lambda)
            return (prompt, costs[pick], (row.max() ?? 0) - row[cheapest])
        }
        let byCost = keyed.sorted { ($0.1, $0.2) < ($1.1, $1.2) }.map(\.0)
        // Each half in a seeded random order: a steady skew between the replicas, not a drift within one.
        var generator = SeededGenerator(seed: 14)
        let cheap = byCost.prefix(600).shuffled(using: &generator)
        let expensive = byCost.suffix(600).shuffled(using: &generator)

        let settings = try await TestPostgres.freshDatabase()
        try await TestCluster.with { cluster in
            try await Self.skewedReplay(cluster, settings: settings, target: target, expensive: expensive, cheap: cheap)
        }
    }

    static func skewedReplay(
        _ cluster: TestCluster, settings: GatewayConfig.Log.Postgres, target: Double, expensive: [String],
        cheap: [String]
    ) async throws {
        let configPath = cluster.directory.appendingPathComponent("gateway.yaml").path
        try await TestCluster.config(
            postgres: settings, extraPostgres: ", fleet_budget: true, report_interval_seconds: 0.5",
            budget: "budget: {target_mean_cost: \(target), window: 128, warmup: 16, feedback_horizon: 512}"
        ).write(toFile: configPath, atomically: true, encoding: .utf8)
        let ports = try await cluster.start(config: configPath, replicas: 2, port: try closedPort())

        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let statuses = NIOLockedValueBox<[Int]>([])
        let answered = NIOLockedValueBox<[Int]>([0, 0])
        // Both replicas' λ, read while each has answered between a quarter and nine tenths of its half: the fleet's
        // λ is one while both take traffic (at the end, whichever finishes first stops reporting a rate and the
        // other steers on its own mix again).
        let lambdaPairs = NIOLockedValueBox<[[Double]]>([])
        let halves = [expensive.count, cheap.count]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (replica, prompts) in [(0, expensive), (1, cheap)] {
                for worker in 0..<2 {
                    group.addTask {
                        for index in stride(from: worker, to: prompts.count, by: 2) {
                            let status = await Self.route(
                                client, port: ports[replica], id: "skew-\(replica)-\(index)", prompt: prompts[index])
                            statuses.withLockedValue { $0.append(status) }
                            answered.withLockedValue { $0[replica] += 1 }
                        }
                    }
                }
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: .milliseconds(500))
                    let done = answered.withLockedValue { $0 }
                    if done[0] >= halves[0] && done[1] >= halves[1] { return }
                    let inMiddle = zip(done, halves).allSatisfy { 4 * $0 >= $1 && 10 * $0 <= 9 * $1 }
                    guard inMiddle else { continue }
                    let pair = [
                        try await Self.lambda(client, port: ports[0]), try await Self.lambda(client, port: ports[1]),
                    ]
                    lambdaPairs.withLockedValue { $0.append(pair) }
                }
            }
            try await group.waitForAll()
        }
        let lambdas = [try await Self.lambda(client, port: ports[0]), try await Self.lambda(client, port: ports[1])]
        let metrics = try await Self.get(client, port: ports[0], path: "/metrics")
        try await client.shutdown()
        #expect(statuses.withLockedValue { $0.allSatisfy { $0 == 200 } })
        #expect(metrics.contains("catimage_fleet_replicas 2"), "the replicas did not see each other")

        let store = try await PostgresDecisionLog.openForReading(settings: settings, logger: TestPostgres.logger)
        let records = try await store.records()
        await store.close()
        #expect(records.count == 1200)
        // The fleet's realised mean cost over the whole replay, warm-up included, from the shared log.
        let mean = { (values: [Double]) in values.reduce(0, +) / Double(max(values.count, 1)) }
        let fleetMean = mean(records.compactMap(\.cost))
        let expensiveCosts = records.filter { $0.requestID.hasPrefix("skew-0-") }.compactMap(\.cost)
        let cheapCosts = records.filter { $0.requestID.hasPrefix("skew-1-") }.compactMap(\.cost)
        let pairs = lambdaPairs.withLockedValue { $0 }
        let disagreements = pairs.map { abs($0[0] - $0[1]) / max($0[0], $0[1], 1e-9) }.sorted()
        let medianDisagreement = disagreements.isEmpty ? Double.infinity : disagreements[disagreements.count / 2]
        let summary =
            "target \(target), fleet \(fleetMean), expensive-prompt replica \(mean(expensiveCosts)), "
            + "cheap-prompt replica \(mean(cheapCosts)), λ mid-replay \(pairs.count) reads, median disagreement "
            + "\(medianDisagreement), λ at the end \(lambdas)"
        #expect(abs(fleetMean - target) <= 0.05 * target, "\(summary)")
        // The fleet holds the target by letting the replica with the expensive prompts spend more, not by making
        // each replica hold it alone.
        #expect(mean(expensiveCosts) - mean(cheapCosts) >= 0.5 * target, "\(summary)")
        // One fleet λ: while both take traffic, both replicas steer on the union of their windows.
        #expect(pairs.count >= 3, "\(summary)")
        #expect(medianDisagreement <= 0.25, "\(summary)")
        print("fleet budget:", summary)
    }

    @Test("PostgreSQL stopped for 5 s under load: no request fails, dropped rows are counted, logging resumes")
    func postgresOutage() async throws {
        try await TestCluster.with { cluster in try await Self.postgresOutage(cluster) }
    }

    static func postgresOutage(_ cluster: TestCluster) async throws {
        let line = try await cluster.script(["postgres-start"])
        guard let range = line.range(of: "CATIMAGE_TEST_POSTGRES=127.0.0.1:"),
            let pgPort = Int(line[range.upperBound...].prefix { $0.isNumber })
        else { throw TestCluster.Failure(description: "postgres-start printed: \(line)") }
        var settings = GatewayConfig.Log.Postgres(database: "catimage", user: "catimage")
        settings.port = pgPort
        settings.writeTimeoutSeconds = 0.5
        settings.queueLimit = 40
        settings.connectTimeoutSeconds = 1

        let harness = try GatewayHarness(predictor: try await TestRouter.shared())
        let ports = try harness.predictor.generatorNames.map { _ in try closedPort() }
        var config = harness.config(ports: ports)
        config.log.path = nil
        config.log.postgres = settings
        var logger = Logger(label: "outage-test")
        logger.logLevel = .critical
        let gateway = try await Gateway.open(config: config, predictor: harness.predictor, logger: logger)
        let store = try #require(gateway.log as? PostgresDecisionLog)
        let app = buildApplication(gateway: gateway)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let statuses = NIOLockedValueBox<[Int]>([])
            let stop = NIOLockedValueBox(false)
            var metricsDuringOutage = ""
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<3 {
                    group.addTask {
                        var index = 0
                        while !stop.withLockedValue({ $0 }) && index < 100_000 {
                            let status = await Self.route(
                                http, port: port, id: "outage-\(worker)-\(index)", prompt: "outage prompt \(index)")
                            statuses.withLockedValue { $0.append(status) }
                            index += 1
                        }
                    }
                }
                for _ in 0..<1200 where statuses.withLockedValue({ $0.count }) < 30 {
                    try await Task.sleep(for: .milliseconds(50))
                }
                try await cluster.script(["postgres-halt"])
                try await Task.sleep(for: .seconds(5))
                metricsDuringOutage = try await Self.get(http, port: port, path: "/metrics")
                try await cluster.script(["postgres-start"])
                // Until the queue is drained and the store is healthy again (bounded), then a little more load.
                for _ in 0..<1200 where store.snapshot.degraded || store.snapshot.queued > 0 {
                    try await Task.sleep(for: .milliseconds(50))
                }
                let resumedAt = statuses.withLockedValue { $0.count }
                for _ in 0..<1200 where statuses.withLockedValue({ $0.count }) < resumedAt + 30 {
                    try await Task.sleep(for: .milliseconds(50))
                }
                stop.withLockedValue { $0 = true }
                try await group.waitForAll()
            }
            try await http.shutdown()

            let all = statuses.withLockedValue { $0 }
            #expect(all.allSatisfy { $0 == 200 }, "failed requests: \(all.filter { $0 != 200 }.count)")
            let snapshot = store.snapshot
            #expect(!snapshot.degraded && snapshot.queued == 0, "logging did not resume: \(snapshot)")
            // The write in flight at the stop waits for a connection (or fails): its requests were released after the
            // write timeout, later rows queued and, past the queue limit, were dropped.
            #expect(snapshot.dropped > 0 && snapshot.released > 0, "\(snapshot)")
            #expect(metricsDuringOutage.contains("catimage_decision_log_degraded 1"))
            let dropped = metricsDuringOutage.split(separator: "\n").first {
                $0.hasPrefix("catimage_decision_log_dropped_total ")
            }
            #expect(dropped.map { !$0.hasSuffix(" 0") } ?? false, "no dropped rows in /metrics: \(metricsDuringOutage)")
            // Every answered request is stored except the dropped ones: queued rows were written after the restart.
            #expect(try await store.count() == all.count - Int(snapshot.dropped))
        }
    }
}
