import Foundation
import Hummingbird
import Logging

/// A stand-in generation server for benchmarks: answers the OpenAI Images protocol
/// (`POST /v1/images/generations`, `b64_json`) on 127.0.0.1 with a 1x1 PNG per requested image that names the
/// model it was asked for in a `tEXt` chunk (`catimage-generator`). With a `lookup`, it is also a stand-in scorer
/// (`POST /score`, the scorer protocol of `catimage score`): it reads the generator back from each image and answers
/// `lookup(prompt, generator)`, e.g. a dataset's true score. It stands for remote generators and scorers only;
/// everything between it and the client is the real gateway.
public enum StandInImageServer {
    /// A valid 1x1 RGBA PNG.
    public static let pngBase64 =
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

    /// The chunk keyword that carries the generator's name.
    static let keyword = "catimage-generator"

    /// The 1x1 PNG with a `tEXt` chunk `catimage-generator=<generator>` before its `IEND`.
    public static func png(generator: String) -> [UInt8] {
        guard let base = Data(base64Encoded: pngBase64) else { return [] }
        var bytes = [UInt8](base)
        let data = Array(keyword.utf8) + [0] + Array(generator.utf8)
        let kind = Array("tEXt".utf8)
        var chunk = withUnsafeBytes(of: UInt32(data.count).bigEndian, Array.init) + kind + data
        chunk += withUnsafeBytes(of: crc32(kind + data).bigEndian, Array.init)
        bytes.insert(contentsOf: chunk, at: bytes.count - 12)  // IEND is the last 12 bytes
        return bytes
    }

    /// The generator a ``png(generator:)`` image names, or `nil`.
    public static func generator(inPNG bytes: [UInt8]) -> String? {
        var offset = 8
        while offset + 8 <= bytes.count {
            let length = bytes[offset..<offset + 4].reduce(0) { Int($0) << 8 | Int($1) }
            let kind = String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self)
            guard offset + 12 + length <= bytes.count else { return nil }
            if kind == "tEXt" {
                let data = bytes[offset + 8..<offset + 8 + length]
                if let zero = data.firstIndex(of: 0),
                    String(decoding: data[data.startIndex..<zero], as: UTF8.self) == keyword
                {
                    return String(decoding: data[(zero + 1)...], as: UTF8.self)
                }
            }
            offset += 12 + length
        }
        return nil
    }

    /// CRC-32 (ISO 3309, as PNG chunks use).
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    /// The server's routes; `/score` only with a `lookup`.
    public static func router(lookup: (@Sendable (String, String) -> Double?)? = nil) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.post("/v1/images/generations") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
            let count = min(max(object?["n"] as? Int ?? 1, 1), 8)
            let image = Data(png(generator: object?["model"] as? String ?? "")).base64EncodedString()
            let reply: [String: Any] = [
                "created": 1_700_000_000, "data": Array(repeating: ["b64_json": image], count: count),
            ]
            let data = try JSONSerialization.data(withJSONObject: reply)
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        if let lookup {
            router.post("/score") { request, _ -> Response in
                let body = try await request.body.collect(upTo: 64 << 20)
                let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
                var scores: [[String: Any]] = []
                for item in object?["items"] as? [[String: Any]] ?? [] {
                    guard let id = item["id"] as? String, let prompt = item["prompt"] as? String,
                        let image = (item["image_png_base64"] as? String).flatMap({ Data(base64Encoded: $0) }),
                        let generator = generator(inPNG: [UInt8](image)), let score = lookup(prompt, generator)
                    else { continue }  // an item without a score is the scorer protocol's failed item
                    scores.append(["id": id, "score": score])
                }
                let data = try JSONSerialization.data(withJSONObject: ["scores": scores])
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(bytes: data)))
            }
        }
        return router
    }

    /// Runs the server on an ephemeral port of 127.0.0.1 for the duration of `body`, which gets the port.
    public static func run<T: Sendable>(
        lookup: (@Sendable (String, String) -> Double?)? = nil, _ body: @Sendable (Int) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "catimage.standin")
        logger.logLevel = .critical
        return try await withThrowingTaskGroup(of: Void.self) { group in
            let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
            let app = Application(
                router: router(lookup: lookup), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
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
