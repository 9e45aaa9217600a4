import CATImageEncoder
import CATImageGateway
import Foundation
import Testing

@Suite("Gateway YAML config")
struct GatewayConfigTests {
    @Test("the example config parses into the settings it spells out")
    func exampleParses() throws {
        let config = try GatewayConfig.parse(
            yaml: GatewayConfig.exampleYAML, file: "gateway.yaml", baseDirectory: "/srv/catimage",
            environment: ["AMUSED_API_KEY": "secret"])
        #expect(config.listen == .init(host: "127.0.0.1", port: 8080))
        #expect(config.routerPath == "/srv/catimage/router.catimage")
        #expect(config.log.path == "/srv/catimage/decisions.sqlite")
        #expect(config.log.synchronous == .normal)
        #expect(config.auth.tokens == ["change-me"])
        #expect(config.budget.targetMeanCost == 0.45)
        #expect(config.limits.maxBodyBytes == 65536)
        #expect(config.generators.count == 4)
        let sdxl = try #require(config.generators["SDXL-Turbo"])
        guard case .a1111(let parameters) = sdxl.kind else {
            Issue.record("SDXL-Turbo should be an a1111 backend")
            return
        }
        #expect(parameters.steps == 4 && parameters.cfgScale == 0 && parameters.samplerName == "Euler a")
        #expect(sdxl.timeoutSeconds == 30 && sdxl.retries == 1)
        #expect(config.generators["SD-Turbo"]?.baseURL == sdxl.baseURL)
        #expect(
            config.generators["amused"]?.kind
                == .openAIImages(model: "amused-512", apiKeyEnvironmentVariable: "AMUSED_API_KEY"))
        #expect(config.generators["amused"]?.retries == 2)
    }

    struct Broken: Sendable, CustomStringConvertible {
        var name: String
        var yaml: String
        var key: String
        var line: Int?
        var fragment: String
        var description: String { name }
    }

    static let minimal = """
        router: r.catimage
        generators:
          a:
            backend: a1111
            base_url: http://127.0.0.1:7860

        """

    static let broken: [Broken] = [
        .init(name: "empty file", yaml: "", key: "", line: nil, fragment: "empty"),
        .init(name: "not YAML", yaml: "router: [unclosed", key: "", line: nil, fragment: "not valid YAML"),
        .init(
            name: "missing router", yaml: "generators:\n  a:\n    backend: a1111\n    base_url: http://h:1\n",
            key: "router", line: nil, fragment: "missing required key"),
        .init(name: "no generators", yaml: "router: r\n", key: "generators", line: nil, fragment: "missing"),
        .init(
            name: "unknown top-level key", yaml: minimal + "lisen:\n  port: 1\n", key: "lisen", line: 6,
            fragment: "unknown key"),
        .init(
            name: "port out of range", yaml: minimal + "listen:\n  port: 70000\n", key: "listen.port", line: 7,
            fragment: "between 0 and 65535"),
        .init(
            name: "steps not an integer",
            yaml: minimal.replacingOccurrences(
                of: "base_url: http://127.0.0.1:7860", with: "base_url: http://127.0.0.1:7860\n    steps: many"),
            key: "generators.a.steps", line: 6, fragment: "expected an integer"),
        .init(
            name: "unknown backend kind",
            yaml: minimal.replacingOccurrences(of: "backend: a1111", with: "backend: comfyui"),
            key: "generators.a.backend", line: 4, fragment: "unknown backend"),
        .init(
            name: "base URL without scheme",
            yaml: minimal.replacingOccurrences(of: "http://127.0.0.1:7860", with: "127.0.0.1:7860"),
            key: "generators.a.base_url", line: 5, fragment: "http://"),
        .init(
            name: "openai key variable not set",
            yaml:
                "router: r\ngenerators:\n  b:\n    backend: openai-images\n    base_url: http://h/v1\n    model: m\n    api_key_env: NOT_SET_ANYWHERE\n",
            key: "generators.b.api_key_env", line: 7, fragment: "not set"),
        .init(
            name: "a1111 option on an openai backend",
            yaml:
                "router: r\ngenerators:\n  b:\n    backend: openai-images\n    base_url: http://h/v1\n    model: m\n    steps: 4\n",
            key: "generators.b.steps", line: 7, fragment: "unknown key"),
        .init(
            name: "bad synchronous mode", yaml: minimal + "log:\n  path: x.sqlite\n  synchronous: sometimes\n",
            key: "log.synchronous", line: 8, fragment: "full or normal"),
        .init(
            name: "unknown encoder precision", yaml: minimal + "inference:\n  precision: fp16\n",
            key: "inference.precision", line: 7, fragment: "fp32 or bf16"),
        .init(
            name: "negative budget", yaml: minimal + "budget:\n  target_mean_cost: -1\n",
            key: "budget.target_mean_cost",
            line: 7, fragment: "greater than 0"),
    ]

    @Test("a broken config fails with the file, key, line and what is wrong", arguments: broken)
    func brokenConfig(_ broken: Broken) {
        #expect {
            _ = try GatewayConfig.parse(yaml: broken.yaml, file: "gw.yaml", environment: [:])
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            let matches =
                error.file == "gw.yaml" && error.key == broken.key && error.description.contains(broken.fragment)
                && (broken.line == nil || error.line == broken.line)
            if !matches { Issue.record("got: \(error)") }
            return matches
        }
    }

    @Test("inference.precision picks the encoder's arithmetic; absent, the environment decides")
    func encoderPrecision() throws {
        let absent = try GatewayConfig.parse(yaml: Self.minimal, file: "gw.yaml", environment: [:])
        #expect(absent.inference.precision == nil)
        let reduced = try GatewayConfig.parse(
            yaml: Self.minimal + "inference:\n  precision: bf16\n", file: "gw.yaml", environment: [:])
        #expect(reduced.inference.precision == .bf16)
    }

    @Test("tokens come from the file and from the environment variable it names")
    func tokensFromEnvironment() throws {
        let yaml = Self.minimal + "auth:\n  tokens: [one]\n  tokens_env: GW_TOKENS\n"
        let config = try GatewayConfig.parse(yaml: yaml, environment: ["GW_TOKENS": "two, three"])
        #expect(config.auth.tokens == ["one", "two", "three"])
        #expect(throws: ConfigError.self) { try GatewayConfig.parse(yaml: yaml, environment: [:]) }
    }

    @Test("a config whose generators differ from the router's is refused, naming the generators")
    func generatorsMustMatchRouter() async throws {
        let predictor = try await TestRouter.shared()
        var generators: [String: GatewayConfig.Backend] = [:]
        for name in predictor.generatorNames.dropLast() {
            generators[name] = .init(kind: .a1111(.init()), baseURL: "http://127.0.0.1:1")
        }
        let missingOne = GatewayConfig(routerPath: "r", generators: generators)
        let missingName = try #require(predictor.generatorNames.last)
        #expect {
            _ = try Gateway(config: missingOne, predictor: predictor)
        } throws: { error in
            (error as? ConfigError)?.description.contains(missingName) == true
        }
        var extra = missingOne
        extra.generators[missingName] = .init(kind: .a1111(.init()), baseURL: "http://127.0.0.1:1")
        extra.generators["dall-e-9"] = .init(kind: .a1111(.init()), baseURL: "http://127.0.0.1:1")
        #expect {
            _ = try Gateway(config: extra, predictor: predictor)
        } throws: { error in
            (error as? ConfigError)?.key == "generators.dall-e-9"
        }
    }
}
