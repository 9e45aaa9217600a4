import AsyncHTTPClient
import Foundation
import NIOCore

/// Concurrent requests to a live gateway over a pool of real connections (the harness's test client has one).
struct HTTPLoad {
    struct Reply: Sendable {
        var status: Int
        var headers: [String: String]
        var json: [String: any Sendable]
        var seconds: Double
    }

    let client: HTTPClient
    let port: Int

    /// Runs `body` with a client that is shut down afterwards.
    static func with<T: Sendable>(port: Int, _ body: (HTTPLoad) async throws -> T) async throws -> T {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(60))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let result = try await body(HTTPLoad(client: client, port: port))
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    func post(_ path: String, _ json: String, headers: [String: String] = [:]) async throws -> Reply {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: json))
        return try await send(request)
    }

    func get(_ path: String) async throws -> Reply {
        try await send(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"))
    }

    private func send(_ request: HTTPClientRequest) async throws -> Reply {
        let start = ContinuousClock.now
        let response = try await client.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 16 << 20)
        let elapsed = ContinuousClock.now - start
        let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
        var headers: [String: String] = [:]
        for header in response.headers { headers[header.name.lowercased()] = header.value }
        let (whole, fraction) = elapsed.components
        return Reply(
            status: Int(response.status.code), headers: headers, json: object.mapValues { Self.sendable($0) },
            seconds: Double(whole) + Double(fraction) * 1e-18)
    }

    /// JSON values as plain Sendable values (strings, numbers, arrays and objects of them).
    private static func sendable(_ value: Any) -> any Sendable {
        switch value {
        case let text as String: text
        case let number as NSNumber: number.doubleValue
        case let array as [Any]: array.map { sendable($0) }
        case let object as [String: Any]: object.mapValues { sendable($0) }
        default: "\(value)"
        }
    }
}
