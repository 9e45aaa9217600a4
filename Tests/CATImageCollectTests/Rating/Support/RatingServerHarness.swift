import CATImageCollect
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore

/// The rating server on a fixture collection, driven over real HTTP on loopback.
struct RatingServerHarness: Sendable {
    let fixture: RatingFixture
    let session: RatingSession

    init(_ fixture: RatingFixture) throws {
        self.fixture = fixture
        session = RatingSession(store: try RatingStore(collectionAt: fixture.path))
    }

    /// Starts the server on a free loopback port and runs `body` with a client to it.
    func run<T: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        var logger = Logger(label: "rate-test")
        logger.logLevel = .error
        let app = buildRatingApplication(
            session: session, configuration: .init(host: "127.0.0.1", port: 0), logger: logger)
        return try await app.test(.live) { client in try await body(client) }
    }
}

/// A reply with its body parsed as JSON (an empty object when it is not JSON).
struct RatingReply: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let text: String
    let bytes: [UInt8]

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]) ?? [:]
    }

    /// `error.code` of an error reply.
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    var errorMessage: String { (json["error"] as? [String: Any])?["message"] as? String ?? "" }

    /// The prompt's image tokens, in page order.
    var tokens: [String] {
        ((json["prompt"] as? [String: Any])?["images"] as? [[String: Any]] ?? []).compactMap { $0["token"] as? String }
    }

    var promptID: String? { (json["prompt"] as? [String: Any])?["id"] as? String }
    var progress: [String: Int] { json["progress"] as? [String: Int] ?? [:] }
}

extension TestClientProtocol {
    func get(_ path: String) async throws -> RatingReply {
        try await execute(uri: path, method: .get) { RatingReply($0) }
    }

    func post(_ path: String, _ body: String) async throws -> RatingReply {
        try await execute(
            uri: path, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)
        ) { RatingReply($0) }
    }

    func state(_ rater: String, prompt: String? = nil) async throws -> RatingReply {
        var path = "/api/state?rater=" + (rater.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? rater)
        if let prompt { path += "&prompt=\(prompt)" }
        return try await get(path)
    }

    func rate(_ rater: String, _ token: String, _ rating: Int) async throws -> RatingReply {
        try await post("/api/ratings", #"{"rater": "\#(rater)", "image": "\#(token)", "rating": \#(rating)}"#)
    }
}

extension RatingReply {
    init(_ response: TestResponse) {
        status = response.status
        headers = response.headers
        bytes = Array(response.body.readableBytesView)
        text = String(decoding: bytes, as: UTF8.self)
    }
}

/// Runs blocking work (a semaphore wait, a synchronous database transaction held open, a browser session) on a
/// Dispatch thread and awaits its result, so it never occupies one of the few threads of Swift's cooperative pool,
/// which the rating server and every other test in the process need.
func offCooperativePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
