import CATImageGateway
import CATImageTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers

/// A gateway wired to four local stub backends (two A1111, two OpenAI), one per generator of the router.
struct GatewayHarness {
    static let apiKeyVariable = "CATIMAGE_TEST_OPENAI_KEY"
    static let apiKey = "sk-local-test"

    let predictor: any QualityPredictor
    let stubs: [StubBackend]
    let logDirectory: URL

    init(predictor: any QualityPredictor) throws {
        precondition(predictor.generatorNames.count >= 2, "the harness needs at least two generators")
        self.predictor = predictor
        stubs = predictor.generatorNames.indices.map { index in
            index % 2 == 0 ? StubBackend(.a1111) : StubBackend(.openAI(apiKey: Self.apiKey))
        }
        logDirectory = Self.scratchFolder.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
    }

    var logPath: String { logDirectory.appendingPathComponent("decisions.sqlite").path }

    /// This test process's folder of decision logs, removed when the process exits.
    static let scratchFolder: URL = {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "catimage-gateway-tests-\(ProcessInfo.processInfo.processIdentifier)")
        atexit { try? FileManager.default.removeItem(at: GatewayHarness.scratchFolder) }
        return folder
    }()

    func stub(for generator: String) -> StubBackend {
        stubs[predictor.generatorNames.firstIndex(of: generator) ?? 0]
    }

    /// The config for backends listening on `ports` (one per generator, in the router's order).
    func config(ports: [Int], customise: (inout GatewayConfig) -> Void = { _ in }) -> GatewayConfig {
        var generators: [String: GatewayConfig.Backend] = [:]
        for (index, name) in predictor.generatorNames.enumerated() {
            let kind: GatewayConfig.Backend.Kind
            if index % 2 == 0 {
                var parameters = GatewayConfig.Backend.A1111Parameters()
                parameters.steps = 4 + index * 8
                parameters.samplerName = "Euler a"
                kind = .a1111(parameters)
                generators[name] = .init(kind: kind, baseURL: "http://127.0.0.1:\(ports[index])")
            } else {
                kind = .openAIImages(model: "model-\(name)", apiKeyEnvironmentVariable: Self.apiKeyVariable)
                generators[name] = .init(kind: kind, baseURL: "http://127.0.0.1:\(ports[index])/v1")
            }
            // Generous, so a loaded CI machine does not time out healthy stubs; timeout tests lower it.
            generators[name]?.timeoutSeconds = 5
            generators[name]?.retries = 1
        }
        var config = GatewayConfig(routerPath: "test-router", generators: generators)
        config.listen = .init(host: "127.0.0.1", port: 0)
        config.log.path = logPath
        config.log.synchronous = .normal
        customise(&config)
        return config
    }

    /// Starts the stubs and a gateway, and runs `body` with a live HTTP client to the gateway.
    func run<T: Sendable>(
        customise: @Sendable (inout GatewayConfig) -> Void = { _ in },
        breakerClock: (@Sendable () -> Double)? = nil,
        _ body: @Sendable (any TestClientProtocol, Gateway) async throws -> T
    ) async throws -> T {
        try await withLocalServers(stubs.map { $0.router() }) { ports in
            let config = self.config(ports: ports, customise: customise)
            var logger = Logger(label: "gateway-test")
            logger.logLevel = .error
            let gateway = try Gateway(
                config: config, predictor: predictor, environment: [Self.apiKeyVariable: Self.apiKey], logger: logger,
                breakerClock: breakerClock)
            let app = buildApplication(gateway: gateway)
            return try await app.test(.live) { client in try await body(client, gateway) }
        }
    }
}

extension TestClientProtocol {
    /// POSTs a JSON text and returns status, headers and the decoded JSON object (empty when not an object).
    func postJSON(
        _ uri: String, _ json: String, headers: HTTPFields = [:]
    ) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, json: [String: Any]) {
        try await postBytes(uri, Array(json.utf8), headers: headers)
    }

    func postBytes(
        _ uri: String, _ bytes: [UInt8], headers: HTTPFields = [:]
    ) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, json: [String: Any]) {
        var fields = headers
        fields[.contentType] = "application/json"
        let response = try await execute(uri: uri, method: .post, headers: fields, body: ByteBuffer(bytes: bytes))
        let data = Data(response.body.readableBytesView)
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return (response.status, response.headers, object)
    }
}

/// A JSON string literal for `text`.
func jsonString(_ text: String) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: [text])) ?? Data("[\"\"]".utf8)
    return String(decoding: data, as: UTF8.self).dropFirst().dropLast().description
}

/// A clock that stands still until a test moves it, for circuit-breaker timing without sleeping.
final class ManualClock: Sendable {
    private let seconds = NIOLockedValueBox(0.0)

    var now: Double { seconds.withLockedValue { $0 } }

    func advance(by interval: Double) { seconds.withLockedValue { $0 += interval } }

    var reading: @Sendable () -> Double { { [self] in now } }
}
