import AsyncHTTPClient
import CATImageCollect
import Foundation
import Logging

/// A temporary folder with a gateway config naming stand-in servers, a prompts file and a collection folder.
struct CollectFixture {
    let directory: String
    let configPath: String
    let promptsPath: String
    var collection: String { directory + "/pool" }

    /// One generator of the config.
    struct Entry {
        var name: String
        var yaml: String
    }

    // Timeouts are generous: a stand-in on localhost answers at once, but a loaded CI machine running the other
    // suites beside these has been seen to delay an answer past 20 s, and a timed-out attempt is retried.
    static func a1111(_ name: String, port: Int, steps: Int = 20, concurrency: Int = 1, retries: Int = 1) -> Entry {
        Entry(
            name: name,
            yaml: "{backend: a1111, base_url: \"http://127.0.0.1:\(port)\", steps: \(steps), width: 8, height: 8, "
                + "max_concurrency: \(concurrency), retries: \(retries), timeout_seconds: 60}")
    }

    static func openAI(_ name: String, port: Int, model: String = "stand-in-1", concurrency: Int = 1) -> Entry {
        Entry(
            name: name,
            yaml: "{backend: openai-images, base_url: \"http://127.0.0.1:\(port)/v1\", model: \(model), size: 8x8, "
                + "max_concurrency: \(concurrency), retries: 1, timeout_seconds: 60}")
    }

    init(generators: [Entry], prompts: [String]) throws {
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent(
                "catimage-collect-\(UUID().uuidString)"
            ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        configPath = directory + "/gateway.yaml"
        promptsPath = directory + "/prompts.txt"
        try Self.writeConfig(generators, to: configPath)
        try (prompts.joined(separator: "\n") + "\n").write(toFile: promptsPath, atomically: true, encoding: .utf8)
    }

    static func writeConfig(_ generators: [Entry], to path: String) throws {
        var yaml = "router: router.catimage\ngenerators:\n"
        for entry in generators { yaml += "  \(entry.name): \(entry.yaml)\n" }
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    func request(samples: Int, generators: [String]? = nil) -> CollectRequest {
        var request = CollectRequest(
            configPath: configPath, promptsPath: promptsPath, samples: samples, outputDirectory: collection)
        request.generators = generators
        return request
    }

    /// Prepares and runs a collect in this process.
    func collect(
        samples: Int, generators: [String]? = nil, retryFailed: Bool = false, client: HTTPClient
    ) async throws -> (CollectSession, CollectRunResult) {
        var request = self.request(samples: samples, generators: generators)
        request.retryFailed = retryFailed
        let session = try CollectSession.prepare(request, client: client, logger: quietLogger)
        let result = try await session.collector.run(session.plan)
        return (session, result)
    }
}

let quietLogger: Logger = {
    var logger = Logger(label: "collect-tests")
    logger.logLevel = .critical
    return logger
}()

/// Prompts of 1 to 12 words, so that the best stand-in generator depends on the prompt.
func standInPrompts(_ count: Int) -> [String] {
    let words = ["red", "car", "in", "the", "rain", "at", "night", "with", "neon", "lights", "and", "fog"]
    return (0..<count).map { index in
        let length = 1 + index % words.count
        return (0..<length).map { words[($0 + index) % words.count] }.joined(separator: " ") + " #\(index)"
    }
}

/// Runs `body` with an HTTP client that is shut down afterwards.
func withClient<T: Sendable>(_ body: (HTTPClient) async throws -> T) async throws -> T {
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    do {
        let value = try await body(client)
        try await client.shutdown()
        return value
    } catch {
        try? await client.shutdown()
        throw error
    }
}
