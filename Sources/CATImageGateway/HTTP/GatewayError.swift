import Foundation
import Hummingbird

/// An error that renders itself as a JSON HTTP response in the OpenAI error shape:
/// `{"error": {"code": ..., "message": ..., "type": ..., "failures": [...]}}`.
public struct GatewayError: Error, HTTPResponseError, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    /// A stable machine-readable code, e.g. `prompt_too_long`.
    public var code: String
    public var message: String
    /// For 502: each failed backend attempt.
    public var failures: [String]
    public var headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status, code: String, _ message: String, failures: [String] = [],
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.failures = failures
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    private struct Body: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
            var type: String
            var failures: [String]?
        }
        var error: Detail
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let type =
            switch status.code {
            case 401: "authentication_error"
            case 400..<500: "invalid_request_error"
            default: "server_error"
            }
        let body = Body(
            error: .init(code: code, message: message, type: type, failures: failures.isEmpty ? nil : failures))
        var response = try JSONResponse.make(body, status: status)
        response.headers.append(contentsOf: headers)
        return response
    }
}

/// JSON encoding of responses with snake_case keys.
enum JSONResponse {
    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws
        -> Response
    {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
