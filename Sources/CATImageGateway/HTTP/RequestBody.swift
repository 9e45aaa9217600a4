import Foundation
import Hummingbird
import NIOCore

/// Reading and checking JSON request bodies: size, UTF-8, JSON syntax, field types, prompt length.
enum RequestBody {
    /// The body's bytes, or 413 when it is over `limit` (declared or actual).
    static func collect(_ request: Request, limit: Int) async throws -> ByteBuffer {
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit {
            throw tooLarge(limit)
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw tooLarge(limit)
        }
    }

    private static func tooLarge(_ limit: Int) -> GatewayError {
        GatewayError(.contentTooLarge, code: "body_too_large", "the request body is over the limit of \(limit) bytes")
    }

    /// Decodes `T` from a UTF-8 JSON object body, with an error naming what is wrong.
    static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        let bytes = Data(buffer.readableBytesView)
        guard String(bytes: bytes, encoding: .utf8) != nil else {
            throw GatewayError(.badRequest, code: "invalid_utf8", "the request body is not valid UTF-8")
        }
        guard !bytes.isEmpty else {
            throw GatewayError(.badRequest, code: "invalid_json", "the request body is empty; send a JSON object")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(T.self, from: bytes)
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            throw GatewayError(.badRequest, code: "invalid_json", "the request body is not valid JSON")
        } catch DecodingError.typeMismatch(let expected, let context) {
            let field = path(context.codingPath)
            if field.isEmpty {
                throw GatewayError(.badRequest, code: "invalid_json", "the request body must be a JSON object")
            }
            throw GatewayError(.badRequest, code: "invalid_field", "field '\(field)' must be \(describe(expected))")
        } catch DecodingError.valueNotFound(let expected, let context) {
            throw GatewayError(
                .badRequest, code: "invalid_field", "field '\(path(context.codingPath))' must be \(describe(expected))")
        } catch DecodingError.dataCorrupted(let context) {
            throw GatewayError(
                .badRequest, code: "invalid_field",
                "field '\(path(context.codingPath))': \(context.debugDescription)")
        } catch {
            throw GatewayError(.badRequest, code: "invalid_json", "the request body is not valid JSON: \(error)")
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { key in key.intValue.map { "[\($0)]" } ?? key.stringValue }.joined(separator: ".")
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "an integer"
        case is Double.Type: "a number"
        default: "of type \(type)"
        }
    }

    /// The prompt, checked: present, not blank, within the character limit.
    static func prompt(_ prompt: String?, limit: Int) throws -> String {
        guard let prompt else {
            throw GatewayError(.badRequest, code: "missing_prompt", "field 'prompt' is required")
        }
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw GatewayError(.badRequest, code: "empty_prompt", "field 'prompt' is empty")
        }
        guard prompt.count <= limit else {
            throw GatewayError(
                .badRequest, code: "prompt_too_long",
                "the prompt has \(prompt.count) characters; the limit is \(limit)")
        }
        return prompt
    }
}

/// `POST /v1/route` body.
struct RouteRequest: Decodable {
    var prompt: String?
    var lambda: Double?
    var budget: Double?
}

/// `POST /v1/images/generations` body (OpenAI Images API; unknown fields such as `user` are ignored).
struct ImagesRequest: Decodable {
    var prompt: String?
    var n: Int?
    var size: String?
    var responseFormat: String?
    var model: String?
    var lambda: Double?
    var budget: Double?
}

/// `POST /v1/route` response.
struct RouteResponse: Encodable {
    struct Candidate: Encodable {
        var generator: String
        var predictedQuality: Double
        var cost: Double
        var score: Double
    }
    var requestId: String
    var generator: String
    var lambda: Double
    var lambdaSource: String
    /// Every generator, best first (the fallback order).
    var candidates: [Candidate]
    /// Generators ranked above `generator` that were skipped because their circuit breaker is open.
    var skippedGenerators: [String]
    var decisionMs: Double
    /// The rule's pick; `generator` differs from it when exploration replaced it.
    var ruleGenerator: String
    var explored: Bool
    /// Probability with which `generator` was chosen (exploration included).
    var propensity: Double?
    /// SHA-256 of the router file that decided.
    var routerDigest: String?
}

/// `POST /v1/images/generations` response: OpenAI's shape plus the generator that produced the images.
struct ImagesResponse: Encodable {
    struct Image: Encodable {
        var b64Json: String
    }
    struct Routing: Encodable {
        var requestId: String
        var requested: String
        var chosenGenerator: String
        var lambda: Double
        var lambdaSource: String
        var fallbackAttempts: [String]
        /// Generators ranked above the chosen one that were skipped because their circuit breaker is open.
        var skippedGenerators: [String]
        var decisionMs: Double
        var explored: Bool
        /// Probability with which `chosen_generator` was chosen; absent for a forced model.
        var propensity: Double?
        var routerDigest: String?
    }
    var created: Int
    var data: [Image]
    var generator: String
    var catimage: Routing
}
