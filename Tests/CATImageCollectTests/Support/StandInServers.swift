import CATImageTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers

/// A stand-in generation server on 127.0.0.1 speaking the AUTOMATIC1111 (`POST /sdapi/v1/txt2img`) or OpenAI
/// Images (`POST /v1/images/generations`) protocol with real PNGs, a delay, and a failure rate a test sets.
final class StandInGenerator: Sendable {
    enum Wire: Sendable { case a1111, openAI }
    struct Behaviour: Sendable {
        /// Seconds before each answer.
        var delay = 0.0
        /// Fraction of requests answered 500, spread evenly and deterministically over the request count.
        var failureRate = 0.0
        /// Every request answered with this status (e.g. 500) when set.
        var alwaysStatus: Int?
        /// Answer with base64 bytes that are not a PNG.
        var notPNG = false
    }

    let wire: Wire
    /// Red level of the first pixel: the "quality" the stand-in scorer reads back.
    let quality: Int
    /// Added to `quality` per word of the prompt, so which generator is best depends on the prompt.
    let perWord: Int
    private let state: StandInState<Behaviour>

    init(_ wire: Wire, quality: Int, perWord: Int = 0, behaviour: Behaviour = Behaviour()) {
        self.wire = wire
        self.quality = quality
        self.perWord = perWord
        state = StandInState(behaviour)
    }

    var behaviour: Behaviour {
        get { state.behaviour }
        set { state.behaviour = newValue }
    }

    /// JSON bodies received, in order.
    var requests: [[String: Any]] { state.requests }

    private func handle(_ request: Request) async throws -> Response {
        let (object, behaviour, count) = try await state.record(request)
        if behaviour.delay > 0 { try await Task.sleep(for: .milliseconds(Int(behaviour.delay * 1000))) }
        let failing =
            behaviour.failureRate > 0
            && Int(Double(count) * behaviour.failureRate) > Int(Double(count - 1) * behaviour.failureRate)
        if let status = behaviour.alwaysStatus ?? (failing ? 500 : nil) {
            return Response(
                status: .init(code: status),
                body: .init(byteBuffer: ByteBuffer(string: #"{"error":"stand-in failure"}"#)))
        }
        let prompt = object["prompt"] as? String ?? ""
        let words = prompt.split(separator: " ").count
        let seed = (object["seed"] as? Int) ?? count
        let red = UInt8(clamping: quality + perWord * words)
        var variation = UInt64(truncatingIfNeeded: seed) &* 31
        for byte in prompt.utf8 { variation = variation &* 131 &+ UInt64(byte) }
        let png = behaviour.notPNG ? Data("this is not a PNG".utf8) : StandInPNG.make(red: red, variation: variation)
        let image = png.base64EncodedString()
        let reply: [String: Any]
        var headers: HTTPFields = [.contentType: "application/json"]
        switch wire {
        case .a1111:
            reply = ["images": [image], "parameters": object, "info": #"{"seed": \#(seed)}"#]
            if let name = HTTPField.Name("X-Process-Time") {
                headers[name] = String(format: "%.4f", behaviour.delay)
            }
        case .openAI:
            reply = ["created": 1_700_000_000, "data": [["b64_json": image]]]
            if let name = HTTPField.Name("openai-processing-ms") { headers[name] = "\(Int(behaviour.delay * 1000))" }
        }
        let data = try JSONSerialization.data(withJSONObject: reply)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        switch wire {
        case .a1111: router.post("/sdapi/v1/txt2img") { request, _ in try await self.handle(request) }
        case .openAI: router.post("/v1/images/generations") { request, _ in try await self.handle(request) }
        }
        return router
    }
}

/// A stand-in scorer speaking the `catimage score` protocol: the score is the first pixel's red level / 255.
final class StandInScorer: Sendable {
    enum Mode: Sendable, Equatable {
        case good
        /// Every id whose number is divisible by 5 gets `"score": "high"`.
        case textForEveryFifth
        /// Every id whose number is divisible by 7 gets `NaN` (as Python's json module writes it).
        case nanForEverySeventh
        /// Every id whose number is divisible by 3 is left out of the answer.
        case dropEveryThird
        /// Every request answered 500.
        case broken
    }

    private let state: NIOLockedValueBox<(mode: Mode, requests: Int, items: Int)>

    init(_ mode: Mode = .good) { state = NIOLockedValueBox((mode, 0, 0)) }

    var mode: Mode {
        get { state.withLockedValue { $0.mode } }
        set { state.withLockedValue { $0.mode = newValue } }
    }
    var requestCount: Int { state.withLockedValue { $0.requests } }

    private func handle(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 64 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
        let items = object["items"] as? [[String: Any]] ?? []
        let mode = state.withLockedValue { state in
            state.requests += 1
            state.items += items.count
            return state.mode
        }
        if mode == .broken {
            return Response(status: .internalServerError, body: .init(byteBuffer: ByteBuffer(string: "scorer down")))
        }
        var entries: [String] = []
        for item in items {
            guard let id = item["id"] as? String, let number = Int(id) else { continue }
            let image = Data(base64Encoded: item["image_png_base64"] as? String ?? "") ?? Data()
            let score = Double(StandInPNG.firstRed(of: image) ?? 0) / 255
            switch mode {
            case .textForEveryFifth where number % 5 == 0: entries.append(#"{"id": "\#(id)", "score": "high"}"#)
            case .nanForEverySeventh where number % 7 == 0: entries.append(#"{"id": "\#(id)", "score": NaN}"#)
            case .dropEveryThird where number % 3 == 0: continue
            default: entries.append(#"{"id": "\#(id)", "score": \#(score)}"#)
            }
        }
        let text = #"{"scores": [\#(entries.joined(separator: ", "))]}"#
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.post("/score") { request, _ in try await self.handle(request) }
        return router
    }
}
