import Foundation
import Hummingbird

/// Turns every error into a JSON ``GatewayError`` response, so clients never get an empty error body.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as GatewayError {
            throw error
        } catch let error as HTTPError {
            let code = error.status == .notFound ? "not_found" : "http_\(error.status.code)"
            throw GatewayError(
                error.status, code: code, error.body ?? error.status.reasonPhrase, headers: error.headers)
        } catch let error as any HTTPResponseError {
            throw GatewayError(error.status, code: "http_\(error.status.code)", error.status.reasonPhrase)
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(error)"])
            throw GatewayError(.internalServerError, code: "internal_error", "internal error")
        }
    }
}

/// Counts requests by route and status and times them (outermost, so it sees the final status).
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: GatewayMetrics
    static var knownRoutes: Set<String> {
        ["/v1/route", "/v1/images/generations", "/v1/feedback", "/admin/reload", "/healthz", "/readyz", "/metrics"]
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let path = request.uri.path
        let route = Self.knownRoutes.contains(path) ? path : "unmatched"
        do {
            let response = try await next(request, context)
            metrics.recordRequest(
                route: route, status: Int(response.status.code), seconds: (ContinuousClock.now - start).seconds)
            return response
        } catch let error as any HTTPResponseError {
            metrics.recordRequest(
                route: route, status: Int(error.status.code), seconds: (ContinuousClock.now - start).seconds)
            throw error
        } catch {
            metrics.recordRequest(route: route, status: 500, seconds: (ContinuousClock.now - start).seconds)
            throw error
        }
    }
}

/// Bearer-token authentication: `Authorization: Bearer <token>` must carry one of the configured tokens.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let tokens: [[UInt8]]

    init(tokens: [String]) { self.tokens = tokens.map { Array($0.utf8) } }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let challenge: HTTPFields = [.wwwAuthenticate: "Bearer realm=\"catimage\""]
        guard let header = request.headers[.authorization] else {
            throw GatewayError(
                .unauthorized, code: "missing_token", "send Authorization: Bearer <token>", headers: challenge)
        }
        let prefix = "bearer "
        guard header.count > prefix.count, header.lowercased().hasPrefix(prefix) else {
            throw GatewayError(
                .unauthorized, code: "invalid_token", "the Authorization header is not a bearer token",
                headers: challenge)
        }
        let presented = Array(header.dropFirst(prefix.count).utf8)
        // Compare with every token in full, without an early exit, so timing does not reveal a prefix.
        var matched = false
        for token in tokens where Self.constantTimeEqual(token, presented) { matched = true }
        guard matched else {
            throw GatewayError(.unauthorized, code: "invalid_token", "unknown bearer token", headers: challenge)
        }
        return try await next(request, context)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= x ^ y
        }
        return difference == 0 && a.count == b.count
    }
}
