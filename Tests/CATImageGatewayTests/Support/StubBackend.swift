import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers

/// A small generation server on 127.0.0.1 speaking the AUTOMATIC1111 or OpenAI Images protocol, whose behaviour
/// a test sets and changes while it runs.
final class StubBackend: Sendable {
    enum Wire: Sendable { case a1111, openAI(apiKey: String) }
    enum Behaviour: Sendable, Equatable {
        case succeed
        case fail(status: Int)
        /// Sleeps this long before answering (past the gateway's timeout).
        case stall(seconds: Double)
        /// Fails every second request with `status` (the 1st, 3rd, ...), answers the others: a 50% failure rate
        /// without runs of failures.
        case alternate(status: Int)
    }

    let kind: Wire
    private let state = NIOLockedValueBox((behaviour: Behaviour.succeed, requests: [Data]()))

    init(_ kind: Wire) { self.kind = kind }

    var behaviour: Behaviour {
        get { state.withLockedValue { $0.behaviour } }
        set { state.withLockedValue { $0.behaviour = newValue } }
    }

    /// JSON bodies received, in order.
    var requests: [[String: Any]] {
        state.withLockedValue { $0.requests }.map {
            (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] ?? [:]
        }
    }
    var requestCount: Int { state.withLockedValue { $0.requests.count } }

    private func handle(_ request: Request, path: String) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 20)
        let bytes = Data(body.readableBytesView)
        let object = (try? JSONSerialization.jsonObject(with: bytes)) as? [String: Any] ?? [:]
        let behaviour = state.withLockedValue { state in
            state.requests.append(bytes)
            if case .alternate(let status) = state.behaviour {
                return state.requests.count % 2 == 1 ? Behaviour.fail(status: status) : .succeed
            }
            return state.behaviour
        }
        switch behaviour {
        case .fail(let status):
            return Response(
                status: .init(code: status), body: .init(byteBuffer: ByteBuffer(string: "{\"error\":\"stub failure\"}"))
            )
        case .stall(let seconds):
            try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
        case .succeed, .alternate:
            break
        }
        let reply: [String: Any]
        switch kind {
        case .a1111:
            let count = object["batch_size"] as? Int ?? 1
            reply = [
                "images": Array(repeating: PNGFixture.base64, count: count), "parameters": object, "info": "{}",
            ]
        case .openAI(let apiKey):
            guard request.headers[.authorization] == "Bearer \(apiKey)" else {
                return Response(status: .unauthorized)
            }
            let count = object["n"] as? Int ?? 1
            reply = [
                "created": 1_700_000_000,
                "data": Array(repeating: ["b64_json": PNGFixture.base64], count: count),
            ]
        }
        let data = try JSONSerialization.data(withJSONObject: reply)
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        switch kind {
        case .a1111:
            router.post("/sdapi/v1/txt2img") { request, _ in try await self.handle(request, path: "txt2img") }
        case .openAI:
            router.post("/v1/images/generations") { request, _ in try await self.handle(request, path: "images") }
        }
        return router
    }
}

/// Runs Hummingbird applications on 127.0.0.1 ephemeral ports for the duration of `body`.
func withLocalServers<T: Sendable>(
    _ routers: [Router<BasicRequestContext>], _ body: @Sendable ([Int]) async throws -> T
) async throws -> T {
    var logger = Logger(label: "stub")
    logger.logLevel = .critical
    return try await withThrowingTaskGroup(of: Void.self) { group in
        var ports: [Int] = []
        for router in routers {
            let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
            let app = Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { channel in
                    continuation.yield(channel.localAddress?.port ?? 0)
                    continuation.finish()
                }, logger: logger)
            group.addTask { try await app.runService(gracefulShutdownSignals: []) }
            var iterator = stream.makeAsyncIterator()
            guard let port = await iterator.next(), port > 0 else { throw StubError.noPort }
            ports.append(port)
        }
        defer { group.cancelAll() }
        return try await body(ports)
    }
}

enum StubError: Error { case noPort }

/// A port on 127.0.0.1 with nothing listening (bound, then closed): connections to it are refused.
func closedPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    guard bound == 0 else { throw StubError.noPort }
    var actual = sockaddr_in()
    _ = withUnsafeMutablePointer(to: &actual) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: actual.sin_port))
}
