import Foundation
import HTTPTypes
import Hummingbird

/// `POST /v1/feedback`: a score for a decision the gateway logged, by its `request_id`.
struct FeedbackController<Context: RequestContext> {
    let gateway: Gateway
    /// Longest `request_id`, `metric` and `source` accepted, in characters.
    static var maxFieldCharacters: Int { 128 }

    var endpoints: RouteCollection<Context> {
        RouteCollection(context: Context.self).post(use: store)
    }

    @Sendable func store(_ request: Request, context: Context) async throws -> Response {
        let arrival = Date()
        let body = try await RequestBody.collect(request, limit: gateway.config.limits.maxBodyBytes)
        let input = try RequestBody.decode(FeedbackRequest.self, from: body)
        guard let requestID = input.requestId, !requestID.isEmpty else {
            throw GatewayError(.badRequest, code: "missing_request_id", "field 'request_id' is required")
        }
        guard let score = input.score else {
            throw GatewayError(.badRequest, code: "missing_score", "field 'score' is required")
        }
        guard score.isFinite else {
            throw GatewayError(.badRequest, code: "invalid_field", "field 'score' must be a finite number")
        }
        for (name, value) in [("request_id", requestID), ("metric", input.metric), ("source", input.source)] {
            if let value, value.count > Self.maxFieldCharacters {
                throw GatewayError(
                    .badRequest, code: "invalid_field",
                    "field '\(name)' is longer than \(Self.maxFieldCharacters) characters")
            }
        }
        guard let log = gateway.log else {
            throw GatewayError(
                .notFound, code: "no_decision_log",
                "this gateway keeps no decision log (log.path), so it has no decisions to attach feedback to")
        }
        let known: Bool
        do {
            known = try await log.containsDecision(requestID: requestID)
        } catch {
            throw GatewayError(.internalServerError, code: "log_unavailable", "the decision log could not be read")
        }
        guard known else {
            throw GatewayError(
                .notFound, code: "unknown_request_id", "no decision with request_id '\(requestID)' is in the log")
        }
        let record = FeedbackRecord(
            time: arrival, requestID: requestID, score: score, metric: input.metric, source: input.source)
        do {
            try await log.appendFeedback(record)
        } catch {
            gateway.metrics.recordLogError()
            context.logger.error("feedback write failed", metadata: ["error": "\(error)"])
            throw GatewayError(.internalServerError, code: "log_unavailable", "the decision log could not be written")
        }
        gateway.learningMetrics.recordFeedback(origin: "api")
        return try JSONResponse.make(
            FeedbackResponse(
                requestId: requestID, score: score, metric: input.metric, source: input.source,
                time: arrival.timeIntervalSince1970),
            status: .created)
    }
}

/// `POST /v1/feedback` body.
struct FeedbackRequest: Decodable {
    var requestId: String?
    var score: Double?
    var metric: String?
    var source: String?
}

/// `POST /v1/feedback` response: the stored row.
struct FeedbackResponse: Encodable {
    var requestId: String
    var score: Double
    var metric: String?
    var source: String?
    /// Seconds since 1970.
    var time: Double
}
