import AsyncHTTPClient
import CATImage
import CATImageCore
import CATImageEncoder
import CATImageGateway
import CATImageTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import Testing

/// Router files besides the shared test router: another estimator on the same prompts (so the same costs), and the
/// shared router's training with one generator renamed (so its generators do not match the config).
enum RouterVariants {
    static let renamedGenerator = "not-in-the-config"

    private static let built: Result<(other: String, renamed: String), any Error> = Result {
        _ = try TestRouter.built.get()  // creates the folder and schedules its removal
        let material = try TestRouter.material.get()
        let other = try RouterTrainer.train(
            dataset: material.training, features: material.features, encoder: material.encoder,
            estimator: .knn(k: 5, weighted: false), lambda: .budget(0.4), calibrationFolds: 2, seed: 11)
        let otherPath = TestRouter.directoryPath + "/cems-knn5.catimage"
        try other.write(to: otherPath)
        var renamedData = material.training
        renamedData.generators[0].name = renamedGenerator
        let renamed = try RouterTrainer.train(
            dataset: renamedData, features: material.features, encoder: material.encoder,
            estimator: .knn(k: 25, weighted: true), lambda: .budget(0.4), calibrationFolds: 2, seed: 11)
        let renamedPath = TestRouter.directoryPath + "/cems-renamed.catimage"
        try renamed.write(to: renamedPath)
        return (otherPath, renamedPath)
    }

    /// The variants' paths, trained (once) on a thread of their own: training would otherwise hold a thread of the
    /// cooperative pool for seconds and starve the other suites' servers running in this process.
    static func paths() async throws -> (other: String, renamed: String) {
        try await onOwnThread { try built.get() }
    }
    static func otherPath() async throws -> String { try await paths().other }
    static func renamedPath() async throws -> String { try await paths().renamed }

    static func digest(of path: String) throws -> String {
        SHA256.hexDigest(of: try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Puts `source`'s bytes at `destination` atomically (a rename), as a deployment replaces a router file.
    static func install(_ source: String, at destination: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: source))
        try data.write(to: URL(fileURLWithPath: destination), options: .atomic)
    }
}

@Suite("Router digest and hot reload: POST /admin/reload and SIGHUP", .serialized)
struct ReloadTests {
    let harness: GatewayHarness
    static let adminToken = "admin-secret"
    static var admin: HTTPFields { [.authorization: "Bearer \(adminToken)"] }

    init() async throws { harness = try GatewayHarness(predictor: try await TestRouter.shared()) }

    /// A copy of the shared router file the gateway serves from, so a test can replace it.
    func liveRouter() async throws -> String {
        let path = harness.logDirectory.appendingPathComponent("live.catimage").path
        try RouterVariants.install(try await TestRouter.path(), at: path)
        return path
    }

    @Test("reloading every second during a 10 s load fails no request, and both routers' digests reach the log")
    func reloadUnderLoad() async throws {
        let live = try await liveRouter()
        let digestA = try RouterVariants.digest(of: try await TestRouter.path())
        let otherPath = try await RouterVariants.otherPath()
        let digestB = try RouterVariants.digest(of: otherPath)
        #expect(digestA != digestB)
        let outcome = try await harness.run(customise: {
            $0.routerPath = live
            $0.admin.token = Self.adminToken
        }) { client, gateway in
            #expect(gateway.router.digest == digestA)
            let stop = NIOLockedValueBox(false)
            let tally = NIOLockedValueBox((ok: 0, failed: [String](), digests: Set<String>()))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<3 {
                    group.addTask {
                        var index = 0
                        while !stop.withLockedValue({ $0 }) {
                            index += 1
                            let prompt = jsonString("prompt \(index) of worker \(worker) during reloads")
                            // Two workers route, one generates (the images path decides the same way).
                            let reply =
                                worker == 2
                                ? try await client.postJSON("/v1/images/generations", #"{"prompt": \#(prompt)}"#)
                                : try await client.postJSON("/v1/route", #"{"prompt": \#(prompt)}"#)
                            let digest =
                                (worker == 2 ? reply.json["catimage"] as? [String: Any] : reply.json)?["router_digest"]
                                as? String
                            tally.withLockedValue { tally in
                                if reply.status == .ok, let digest {
                                    tally.ok += 1
                                    tally.digests.insert(digest)
                                } else {
                                    tally.failed.append("\(reply.status.code) \(reply.json)")
                                }
                            }
                        }
                    }
                }
                for second in 1...10 {
                    try await Task.sleep(for: .seconds(1))
                    let expected = second % 2 == 1 ? digestB : digestA
                    try RouterVariants.install(second % 2 == 1 ? otherPath : try await TestRouter.path(), at: live)
                    let reply = try await client.postJSON("/admin/reload", "", headers: Self.admin)
                    #expect(reply.status == .ok, "\(reply.json)")
                    #expect(reply.json["router_digest"] as? String == expected)
                    #expect(gateway.router.digest == expected)
                }
                stop.withLockedValue { $0 = true }
                try await group.waitForAll()
            }
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"catimage_router_reloads_total{result="ok"} 10"#))
            return tally.withLockedValue { $0 }
        }
        #expect(outcome.failed.isEmpty, "\(outcome.failed.count) failed, e.g. \(outcome.failed.prefix(3))")
        #expect(outcome.ok >= 40, "only \(outcome.ok) requests completed in 10 s")
        #expect(outcome.digests == [digestA, digestB])
        let logged = Set(try DecisionLog(readingFrom: harness.logPath).records().compactMap(\.routerDigest))
        #expect(logged == [digestA, digestB])
    }

    @Test("a router whose generators do not match is refused with 409, an invalid file with 422; the old one stays")
    func mismatchIsRefused() async throws {
        let live = try await liveRouter()
        let digestA = try RouterVariants.digest(of: live)
        let renamed = try await RouterVariants.renamedPath()
        try await harness.run(customise: {
            $0.routerPath = live
            $0.admin.token = Self.adminToken
        }) { client, gateway in
            try RouterVariants.install(renamed, at: live)
            let refused = try await client.postJSON("/admin/reload", "", headers: Self.admin)
            #expect(refused.status == .conflict)
            let error = refused.json["error"] as? [String: Any]
            #expect(error?["code"] as? String == "router_mismatch")
            #expect((error?["message"] as? String)?.contains(RouterVariants.renamedGenerator) == true)
            let route = try await client.postJSON("/v1/route", #"{"prompt": "a red car"}"#)
            #expect(route.status == .ok)
            #expect(route.json["router_digest"] as? String == digestA)

            try Data("not a router".utf8).write(to: URL(fileURLWithPath: live), options: .atomic)
            let invalid = try await client.postJSON("/admin/reload", "", headers: Self.admin)
            #expect(invalid.status == .unprocessableContent)
            #expect((invalid.json["error"] as? [String: Any])?["code"] as? String == "router_invalid")
            #expect(gateway.router.digest == digestA)

            let noToken = try await client.postJSON("/admin/reload", "")
            #expect(noToken.status == .unauthorized)
            let clientToken = try await client.postJSON(
                "/admin/reload", "", headers: [.authorization: "Bearer some-v1-token"])
            #expect(clientToken.status == .unauthorized)
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"catimage_router_reloads_total{result="refused"} 1"#))
            #expect(metrics.contains(#"catimage_router_reloads_total{result="failed"} 1"#))
        }
        let logged = try DecisionLog(readingFrom: harness.logPath).records()
        #expect(logged.count == 1 && logged.first?.routerDigest == digestA)
    }

    @Test("without admin.token_env the admin endpoint is off (404); token_env must name a set variable")
    func adminOffWithoutToken() async throws {
        try await harness.run { client, _ in
            let reply = try await client.postJSON("/admin/reload", "", headers: Self.admin)
            #expect(reply.status == .notFound)
        }
        let config = try GatewayConfig.parse(
            yaml: ConfigFixture.minimal + "\nadmin: {token_env: ADMIN_TOKEN}", environment: ["ADMIN_TOKEN": "t0k"])
        #expect(config.admin.token == "t0k" && config.admin.tokenEnvironmentVariable == "ADMIN_TOKEN")
        #expect {
            try GatewayConfig.parse(yaml: ConfigFixture.minimal + "\nadmin: {token_env: ADMIN_TOKEN}")
        } throws: { error in
            (error as? ConfigError)?.key == "admin.token_env"
        }
    }

    @Test("`catimage serve` reloads its router file on SIGHUP and keeps the old one when the new one is refused")
    func hangupReloads() async throws {
        let binary = try catimageBinary()
        let live = try await liveRouter()
        let digestA = try RouterVariants.digest(of: live)
        let otherPath = try await RouterVariants.otherPath()
        let digestB = try RouterVariants.digest(of: otherPath)
        let renamed = try await RouterVariants.renamedPath()
        let router = try await TestRouter.shared()
        let unused = try closedPort()
        var yaml = """
            listen: {host: 127.0.0.1, port: 0}
            router: \(live)
            model_dir: \(try miniLMDirectory())
            generators:

            """
        for name in router.generatorNames {
            yaml += "  \(name): {backend: a1111, base_url: \"http://127.0.0.1:\(unused)\"}\n"
        }
        let configPath = harness.logDirectory.appendingPathComponent("hup.yaml").path
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--config", configPath, "--log-level", "error"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let port = try await DecisionLogTests.readPort(from: output, timeout: .seconds(120))
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        func digest() async throws -> String? {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/route")
            request.method = .POST
            request.body = .bytes(ByteBuffer(string: #"{"prompt": "a red car"}"#))
            let response = try await client.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 20)
            let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
            return object?["router_digest"] as? String
        }
        do {
            #expect(try await digest() == digestA)
            try RouterVariants.install(otherPath, at: live)
            kill(process.processIdentifier, SIGHUP)
            var seen = try await digest()
            for _ in 0..<150 where seen != digestB {  // at most 30 s
                try await Task.sleep(for: .milliseconds(200))
                seen = try await digest()
            }
            #expect(seen == digestB)
            try RouterVariants.install(renamed, at: live)
            kill(process.processIdentifier, SIGHUP)
            try await Task.sleep(for: .seconds(2))
            #expect(process.isRunning)
            #expect(try await digest() == digestB)
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
        process.terminate()
        process.waitUntilExit()
    }
}
