import Foundation
import Hummingbird

/// A problem with a collection folder or with a rating request, naming the file, field and value at fault.
///
/// It renders itself as an HTTP response, `{"error": {"code": ..., "message": ..., "field": ...}}`, with the status
/// its code calls for, so the rating server's handlers just throw it.
public struct RatingError: Error, Sendable, Equatable, CustomStringConvertible, HTTPResponseError {
    /// What kind of problem it is; stable for tests and tools.
    public enum Code: String, Sendable, Equatable {
        /// The folder has no `collection.sqlite`.
        case missingDatabase = "missing_database"
        /// The database is not a collection (tables missing) or has another schema version.
        case notACollection = "not_a_collection"
        /// An image token the server never handed out (or handed out before a restart).
        case unknownImage = "unknown_image"
        /// A prompt id with no done images in the collection.
        case unknownPrompt = "unknown_prompt"
        /// A done render whose image file is missing from `images/`.
        case missingImageFile = "missing_image_file"
        /// A rating that is not an integer from 1 to 5.
        case invalidRating = "invalid_rating"
        /// A rater name that is empty, too long or holds control characters.
        case invalidRater = "invalid_rater"
        /// A request body that is not a JSON object of the expected shape.
        case invalidJSON = "invalid_json"
        /// A request body over the size limit.
        case bodyTooLarge = "body_too_large"
        /// Undo with no rating left to undo.
        case nothingToUndo = "nothing_to_undo"
        /// A path the server does not serve.
        case notFound = "not_found"
        /// Anything else (the message says what); logged by the server.
        case internalError = "internal_error"
    }

    /// The class of problem.
    public let code: Code
    /// The file at fault, if any.
    public let file: String?
    /// The request field at fault (`rating`, `rater`, `image`, `prompt`), if any.
    public let field: String?
    /// The offending value, if there is one.
    public let value: String?
    /// What is wrong, in words a person can act on.
    public let message: String

    /// An error of `code` at the given place.
    public init(
        _ code: Code, file: String? = nil, field: String? = nil, value: String? = nil, _ message: String
    ) {
        self.code = code
        self.file = file
        self.field = field
        self.value = value
        self.message = message
    }

    public var description: String {
        var text = file.map { "\($0): \(message)" } ?? message
        if let field { text += " (field '\(field)')" }
        if let value { text += " (value: \"\(value.prefix(120))\")" }
        return text
    }

    /// The HTTP status a client gets for this error.
    public var status: HTTPResponse.Status {
        switch code {
        case .unknownImage, .unknownPrompt, .notFound, .missingImageFile: .notFound
        case .invalidRating, .invalidRater, .invalidJSON: .badRequest
        case .bodyTooLarge: .contentTooLarge
        case .nothingToUndo: .conflict
        case .missingDatabase, .notACollection, .internalError: .internalServerError
        }
    }

    private struct Body: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
            var field: String?
            var value: String?
        }
        var error: Detail
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        // The file path is the server's business, not the rater's: it stays in the log.
        let body = Body(error: .init(code: code.rawValue, message: message, field: field, value: value))
        return try RatingJSON.response(body, status: status)
    }
}

/// JSON in and out of the rating server: snake_case keys, sorted, slashes unescaped.
enum RatingJSON {
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
