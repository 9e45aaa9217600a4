import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// `GET /`, `/rate.css`, `/rate.js`: the rating page, self-contained (no external resource of any kind).
struct RatingPageController<Context: RequestContext> {
    /// The page may load only what this server serves: no fonts, scripts or images from elsewhere.
    static var securityHeaders: HTTPFields {
        [
            HTTPField.Name("Content-Security-Policy")!:
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
                + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            HTTPField.Name("Referrer-Policy")!: "no-referrer",
            .cacheControl: "no-store",
        ]
    }

    var endpoints: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("/") { _, _ in Self.asset(RatingPage.html, type: "text/html; charset=utf-8") }
        routes.get("/rate.css") { _, _ in Self.asset(RatingPage.css, type: "text/css; charset=utf-8") }
        routes.get("/rate.js") { _, _ in Self.asset(RatingPage.javaScript, type: "text/javascript; charset=utf-8") }
        return routes
    }

    static func asset(_ text: String, type: String) -> Response {
        var headers = securityHeaders
        headers[.contentType] = type
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// The page's API, under `/api`: every call names its rater.
///
/// - `GET /api/state?rater=NAME[&prompt=ID]`: progress and a prompt (the first unfinished one by default).
/// - `POST /api/ratings` `{"rater", "image": token, "rating": 1...5}`: rate (re-rating replaces).
/// - `POST /api/skips` `{"rater", "prompt": id}`: skip a prompt.
/// - `POST /api/undo` `{"rater"}`: delete the rater's last rating.
/// - `GET /api/images/TOKEN`: the PNG behind a token.
struct RatingAPIController<Context: RequestContext> {
    let session: RatingSession
    /// The largest request body accepted, in bytes.
    static var bodyLimit: Int { 16 * 1024 }

    var endpoints: RouteCollection<Context> {
        let routes = RouteCollection(context: Context.self)
        routes.get("state", use: state)
        routes.post("ratings", use: rate)
        routes.post("skips", use: skip)
        routes.post("undo", use: undo)
        routes.get("images/:token", use: image)
        return routes
    }

    struct RatingRequest: Decodable {
        var rater: String?
        var image: String?
        var rating: Double?
    }

    struct SkipRequest: Decodable {
        var rater: String?
        var prompt: String?
    }

    struct UndoRequest: Decodable {
        var rater: String?
    }

    @Sendable func state(_ request: Request, context: Context) async throws -> Response {
        let rater = try RatingSession.checkedRater(request.uri.queryParameters.get("rater"))
        let prompt = request.uri.queryParameters.get("prompt")
        return try RatingJSON.response(try await session.state(rater: rater, promptID: prompt))
    }

    @Sendable func rate(_ request: Request, context: Context) async throws -> Response {
        let input = try await Self.decode(RatingRequest.self, from: request)
        let rater = try RatingSession.checkedRater(input.rater)
        let rating = try RatingSession.checkedRating(input.rating)
        return try RatingJSON.response(try await session.rate(rater: rater, token: input.image, rating: rating))
    }

    @Sendable func skip(_ request: Request, context: Context) async throws -> Response {
        let input = try await Self.decode(SkipRequest.self, from: request)
        let rater = try RatingSession.checkedRater(input.rater)
        return try RatingJSON.response(try await session.skip(rater: rater, promptID: input.prompt))
    }

    @Sendable func undo(_ request: Request, context: Context) async throws -> Response {
        let input = try await Self.decode(UndoRequest.self, from: request)
        let rater = try RatingSession.checkedRater(input.rater)
        return try RatingJSON.response(try await session.undo(rater: rater))
    }

    @Sendable func image(_ request: Request, context: Context) async throws -> Response {
        let token = context.parameters.get("token") ?? ""
        let file: URL
        do {
            file = try await session.imageFile(forToken: token)
        } catch let error as RatingError where error.code == .missingImageFile {
            context.logger.error("image file missing", metadata: ["token": "\(token)", "error": "\(error)"])
            throw error
        }
        let bytes = try Data(contentsOf: file)
        return Response(
            status: .ok,
            headers: [
                .contentType: "image/png", .cacheControl: "private, max-age=3600",
                HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// A JSON object body of type `T`, with errors that say what is wrong with it.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > bodyLimit {
            throw RatingError(.bodyTooLarge, "the request body is over the limit of \(bodyLimit) bytes")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: bodyLimit)
        } catch is NIOTooManyBytesError {
            throw RatingError(.bodyTooLarge, "the request body is over the limit of \(bodyLimit) bytes")
        }
        let bytes = Data(buffer.readableBytesView)
        guard !bytes.isEmpty else {
            throw RatingError(.invalidJSON, "the request body is empty; send a JSON object")
        }
        guard String(bytes: bytes, encoding: .utf8) != nil else {
            throw RatingError(.invalidJSON, "the request body is not valid UTF-8")
        }
        do {
            return try JSONDecoder().decode(T.self, from: bytes)
        } catch DecodingError.typeMismatch(_, let context) where !context.codingPath.isEmpty {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            // A mistyped rating is a bad rating (3.5, "4"), not just bad JSON.
            let code: RatingError.Code = field == "rating" ? .invalidRating : .invalidJSON
            let expected = field == "rating" ? "a number (an integer from 1 to 5)" : "a string"
            throw RatingError(code, field: field, "field '\(field)' must be \(expected)")
        } catch DecodingError.dataCorrupted(let context) where !context.codingPath.isEmpty {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            let code: RatingError.Code = field == "rating" ? .invalidRating : .invalidJSON
            throw RatingError(code, field: field, "field '\(field)' has an invalid value")
        } catch DecodingError.typeMismatch {
            throw RatingError(.invalidJSON, "the request body must be a JSON object")
        } catch {
            throw RatingError(.invalidJSON, "the request body is not valid JSON")
        }
    }
}

/// Turns every error into a JSON ``RatingError`` response, so the page always gets a message it can show.
struct RatingErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as RatingError {
            throw error
        } catch let error as HTTPError where error.status == .notFound {
            throw RatingError(.notFound, value: request.uri.path, "nothing is served at this path")
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            context.logger.error("rating request failed", metadata: ["error": "\(error)"])
            throw RatingError(.internalError, "the server could not complete the request; see its log")
        }
    }
}
