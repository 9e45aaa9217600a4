import Hummingbird

/// Applies ``AdmissionControl`` to `/v1/*`: the token's rate limit (429), then a slot within the concurrency limit
/// and queue deadline (503); both refusals carry `Retry-After`.
struct AdmissionMiddleware<Context: RequestContext>: RouterMiddleware {
    let admission: AdmissionControl

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        // Requests without a bearer token share one bucket (the auth middleware, when on, has already checked it).
        let token = request.headers[.authorization].map { String($0.dropFirst(min($0.count, 7))) } ?? ""
        if let wait = admission.takeRateToken(for: token) {
            throw GatewayError(
                .tooManyRequests, code: "rate_limited", "this token is over its request rate; retry later",
                headers: [.retryAfter: "\(max(1, Int(wait.rounded(.up))))"])
        }
        if let refusal = await admission.acquire() {
            let message =
                refusal == .queueFull
                ? "the gateway is at capacity and its queue is full; retry later"
                : "the gateway is at capacity: no slot within the queue deadline; retry later"
            throw GatewayError(
                .serviceUnavailable, code: "overloaded", message,
                headers: [.retryAfter: "\(max(1, admission.settings.retryAfterSeconds))"])
        }
        do {
            let response = try await next(request, context)
            admission.release()
            return response
        } catch {
            admission.release()
            throw error
        }
    }
}
