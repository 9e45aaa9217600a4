import CATImageCollect
import CATImageGateway
import Testing

@Suite("The generators section's collect settings: max_concurrency and size")
struct ConfigAdditionsTests {
    static let yaml = """
        router: r.catimage
        generators:
          a: {backend: a1111, base_url: "http://127.0.0.1:7860", steps: 4, max_concurrency: 3}
          b: {backend: a1111, base_url: "http://127.0.0.1:7860", steps: 30, max_concurrency: 2}
          c: {backend: openai-images, base_url: "http://127.0.0.1:9000/v1", model: m, size: 256x128}
        """

    @Test("max_concurrency defaults to 1; generators on one server share its smallest limit; size is parsed")
    func parses() throws {
        let config = try GatewayConfig.parse(yaml: Self.yaml)
        #expect(config.generators["a"]?.maxConcurrency == 3 && config.generators["c"]?.maxConcurrency == 1)
        #expect(config.generators["c"]?.size == ImageSize(width: 256, height: 128))
        let servers = try GeneratorSet(config: config).servers
        #expect(servers.count == 2)
        #expect(servers[0].generators == ["a", "b"] && servers[0].maxConcurrency == 2)
        #expect(servers[1].generators == ["c"] && servers[1].maxConcurrency == 1)
    }

    @Test("a bad max_concurrency or size is an error naming the key and the line")
    func rejects() {
        for (entry, key) in [
            ("{backend: a1111, base_url: \"http://h:1\", max_concurrency: 0}", "max_concurrency"),
            ("{backend: openai-images, base_url: \"http://h:1\", model: m, size: big}", "size"),
            ("{backend: a1111, base_url: \"http://h:1\", size: 64x64}", "size"),
        ] {
            let error = #expect(throws: ConfigError.self) {
                try GatewayConfig.parse(yaml: "router: r\ngenerators:\n  g: \(entry)\n")
            }
            #expect(error?.key == "generators.g.\(key)", "\(String(describing: error))")
        }
    }

    @Test("the config digest ignores URLs, timeouts, retries and concurrency but not generation options")
    func digest() throws {
        let base = try GeneratorSet(config: GatewayConfig.parse(yaml: Self.yaml)).digest
        let moved = Self.yaml.replacingOccurrences(of: "7860", with: "7861").replacingOccurrences(
            of: "max_concurrency: 3", with: "max_concurrency: 1, retries: 4, timeout_seconds: 5")
        #expect(try GeneratorSet(config: GatewayConfig.parse(yaml: moved)).digest == base)
        let changed = Self.yaml.replacingOccurrences(of: "steps: 30", with: "steps: 31")
        #expect(try GeneratorSet(config: GatewayConfig.parse(yaml: changed)).digest != base)
    }
}
