import NIOCore

/// The request-body parsers of `/v1/*`, callable without a server: what the controllers run on a body before
/// any routing, exposed for the libFuzzer harnesses in `Fuzz/` (and anyone checking bodies offline).
public enum RequestBodyParsing {
    /// Which endpoint's body.
    public enum Endpoint: Sendable, CaseIterable {
        case route
        case images
    }

    /// Decodes `bytes` as `endpoint`'s body and checks its prompt against `maxPromptChars`, as the gateway does;
    /// returns the prompt. Every malformed body is a `GatewayError` (400 with a code), never a trap.
    public static func prompt(of bytes: [UInt8], endpoint: Endpoint, maxPromptChars: Int) throws -> String {
        let buffer = ByteBuffer(bytes: bytes)
        switch endpoint {
        case .route:
            let body = try RequestBody.decode(RouteRequest.self, from: buffer)
            return try RequestBody.prompt(body.prompt, limit: maxPromptChars)
        case .images:
            let body = try RequestBody.decode(ImagesRequest.self, from: buffer)
            return try RequestBody.prompt(body.prompt, limit: maxPromptChars)
        }
    }
}
