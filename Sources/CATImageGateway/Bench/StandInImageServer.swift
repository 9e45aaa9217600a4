import Foundation
import Hummingbird
import Logging

/// A stand-in generation server for benchmarks: answers the OpenAI Images protocol
/// (`POST /v1/images/generations`, `b64_json`) on 127.0.0.1 with a fixed 1x1 PNG per requested image, whatever
/// the model. It stands for remote generators only; everything between it and the client is the real gateway.
public enum StandInImageServer {
    /// A valid 1x1 RGBA PNG.
    public static let pngBase64 =
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

    /// The server's routes.
    public static func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.post("/v1/images/generations") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
            let count = min(max(object?["n"] as? Int ?? 1, 1), 8)
            let reply: [String: Any] = [
                "created": 1_700_000_000, "data": Array(repeating: ["b64_json": pngBase64], count: count),
            ]
            let data = try JSONSerialization.data(withJSONObject: reply)
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        return router
    }

    /// Runs the server on an ephemeral port of 127.0.0.1 for the duration of `body`, which gets the port.
    public static func run<T: Sendable>(_ body: @Sendable (Int) async throws -> T) async throws -> T {
        var logger = Logger(label: "catimage.standin")
        logger.logLevel = .critical
        return try await withThrowingTaskGroup(of: Void.self) { group in
            let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
            let app = Application(
                router: router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { channel in
                    continuation.yield(channel.localAddress?.port ?? 0)
                    continuation.finish()
                }, logger: logger)
            group.addTask { try await app.runService(gracefulShutdownSignals: []) }
            var ports = stream.makeAsyncIterator()
            guard let port = await ports.next(), port > 0 else {
                group.cancelAll()
                throw SimulationError("the stand-in image server did not start")
            }
            defer { group.cancelAll() }
            return try await body(port)
        }
    }
}

/// A benchmark simulation could not run.
public struct SimulationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
