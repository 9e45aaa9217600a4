import AsyncHTTPClient
import CATImageCore
import CATImageGateway
import CATImageTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import Testing

@Suite("Decision log: export for retraining, durability under kill -9", .serialized)
struct DecisionLogTests {
    @Test("the exported long CSV loads as a routing dataset once quality scores are filled in")
    func exportLoadsAsLongCSV() async throws {
        let harness = try GatewayHarness(predictor: try await TestRouter.shared())
        let prompts = ["a red car, in the rain", #"a sign that says "open""#, "a white and empty wall"]
        try await harness.run { client, gateway in
            for prompt in prompts {
                for name in gateway.generatorNames {
                    let reply = try await client.postJSON(
                        "/v1/images/generations", #"{"prompt": \#(jsonString(prompt)), "model": \#(jsonString(name))}"#)
                    #expect(reply.status == .ok)
                }
            }
            _ = try await client.postJSON("/v1/route", #"{"prompt": "only routed, never generated"}"#)
        }
        let log = try DecisionLog(readingFrom: harness.logPath)
        var csv = ""
        let rows = try log.exportLongCSV { csv += $0 }
        let router = try await TestRouter.shared()
        #expect(rows == prompts.count * router.generatorNames.count)
        var withRoutes = ""
        #expect(try log.exportLongCSV(includeRouteDecisions: true) { withRoutes += $0 } == rows + 1)

        // Attach scores: quality = 30 + generator index + prompt index / 10, then load as the trainer does.
        var lines = csv.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == DecisionLog.exportColumns.joined(separator: ","))
        let scored = harness.logDirectory.appendingPathComponent("scored.csv").path
        var output = [lines.removeFirst()]
        for line in lines where !line.isEmpty {
            let generator = try #require(router.generatorNames.firstIndex { line.contains(",\($0),,") })
            let prompt = try #require(prompts.firstIndex { line.contains(DecisionLog.promptID($0)) })
            let score = 30 + Double(generator) + Double(prompt) / 10
            output.append(
                line.replacingOccurrences(
                    of: ",\(router.generatorNames[generator]),,", with: ",\(router.generatorNames[generator]),\(score),"
                ))
        }
        try (output.joined(separator: "\n") + "\n").write(toFile: scored, atomically: true, encoding: .utf8)
        var report = DatasetLoadReport()
        let dataset = try RoutingDataset.loadLongCSV(
            scored, columns: LongCSVColumns(id: "prompt_id", cost: "cost"), report: &report)
        #expect(dataset.promptCount == prompts.count)
        #expect(Set(dataset.prompts.map(\.text)) == Set(prompts))
        #expect(Set(dataset.generatorNames) == Set(router.generatorNames))
        for (p, prompt) in dataset.prompts.enumerated() {
            let promptIndex = try #require(prompts.firstIndex(of: prompt.text))
            for (g, name) in dataset.generatorNames.enumerated() {
                let generatorIndex = try #require(router.generatorNames.firstIndex(of: name))
                #expect(
                    abs(
                        dataset.quality(prompt: p, generator: g)
                            - (30 + Double(generatorIndex) + Double(promptIndex) / 10)) < 1e-9)
                #expect(
                    abs((dataset.cost(prompt: p, generator: g) ?? -1) - router.generatorCosts[generatorIndex]) < 1e-9)
            }
        }
    }

    @Test("kill -9 of `catimage serve` under load loses no row whose response was received")
    func killNineKeepsCommittedRows() async throws {
        let binary = try catimageBinary()
        let routerPath = try await TestRouter.path()
        let router = try await TestRouter.shared()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "catimage-kill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let logPath = directory.appendingPathComponent("decisions.sqlite").path
        let unused = try closedPort()
        var yaml = """
            listen: {host: 127.0.0.1, port: 0}
            router: \(routerPath)
            model_dir: \(try miniLMDirectory())
            log: {path: \(logPath), synchronous: normal}
            generators:

            """
        for name in router.generatorNames {
            yaml += "  \(name): {backend: a1111, base_url: \"http://127.0.0.1:\(unused)\"}\n"
        }
        let configPath = directory.appendingPathComponent("gateway.yaml").path
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--config", configPath, "--log-level", "error"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let port = try await Self.readPort(from: output, timeout: .seconds(120))

        let received = NIOLockedValueBox<[String]>([])
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<6 {
                group.addTask {
                    for index in 0..<5000 {
                        let id = "kill-\(worker)-\(index)"
                        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/route")
                        request.method = .POST
                        request.headers.add(name: "x-request-id", value: id)
                        request.body = .bytes(
                            ByteBuffer(string: #"{"prompt": "prompt \#(worker) \#(index) of the kill test"}"#))
                        do {
                            let response = try await client.execute(request, timeout: .seconds(5))
                            _ = try await response.body.collect(upTo: 1 << 20)
                            if response.status == .ok { received.withLockedValue { $0.append(id) } }
                        } catch {
                            return  // the server is gone
                        }
                    }
                }
            }
            // Kill once enough responses have come back (bounded wait), in the middle of the load.
            for _ in 0..<600 where received.withLockedValue({ $0.count }) < 150 {
                try await Task.sleep(for: .milliseconds(50))
            }
            kill(process.processIdentifier, SIGKILL)
            try await group.waitForAll()
        }
        try await client.shutdown()
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL)

        let ids = received.withLockedValue { $0 }
        #expect(ids.count >= 150)
        let stored = try DecisionLog(readingFrom: logPath).requestIDs()
        let lost = ids.filter { !stored.contains($0) }
        #expect(lost.isEmpty, "\(lost.count) of \(ids.count) acknowledged rows missing, e.g. \(lost.prefix(3))")
    }

    /// Reads `catimage serve`'s "listening on http://host:port" line.
    static func readPort(from pipe: Pipe, timeout: Duration) async throws -> Int {
        let handle = pipe.fileHandleForReading
        let deadline = ContinuousClock.now + timeout
        var text = ""
        while ContinuousClock.now < deadline {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            if let range = text.range(of: "listening on http://127.0.0.1:") {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                if let port = Int(digits), text[range.upperBound...].dropFirst(digits.count).first?.isNewline == true {
                    return port
                }
            }
        }
        throw LocalServerError.noPort
    }
}
