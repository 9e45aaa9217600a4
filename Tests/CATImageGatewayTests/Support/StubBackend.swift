import CATImageTestSupport
import Foundation
import Hummingbird

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
    private let state = StandInState(Behaviour.succeed)

    init(_ kind: Wire) { self.kind = kind }

    var behaviour: Behaviour {
        get { state.behaviour }
        set { state.behaviour = newValue }
    }

    /// JSON bodies received, in order.
    var requests: [[String: Any]] { state.requests }
    var requestCount: Int { state.requestCount }

    private func handle(_ request: Request, path: String) async throws -> Response {
        let (object, setting, number) = try await state.record(request)
        var behaviour = setting
        if case .alternate(let status) = setting { behaviour = number % 2 == 1 ? .fail(status: status) : .succeed }
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
