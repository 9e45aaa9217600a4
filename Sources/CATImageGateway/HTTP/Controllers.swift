import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Request ID: the client's `x-request-id` when it is short and printable, else a new UUID.
func requestID(of request: Request) -> String {
    if let given = request.headers[HTTPField.Name("x-request-id")!], (1...128).contains(given.count),
        given.allSatisfy({ $0.isASCII && !$0.isWhitespace && !$0.isNewline })
    {
        return given
    }
    return UUID().uuidString.lowercased()
}

func checkedLambda(_ lambda: Double?, budget: Double?) throws -> (Double?, Double?) {
    if let lambda, !(lambda.isFinite && lambda >= 0) {
        throw GatewayError(.badRequest, code: "invalid_field", "field 'lambda' must be a finite number ≥ 0")
    }
    if let budget, !(budget.isFinite && budget > 0) {
        throw GatewayError(.badRequest, code: "invalid_field", "field 'budget' must be a finite number > 0")
    }
    if lambda != nil && budget != nil {
        throw GatewayError(.badRequest, code: "invalid_field", "give 'lambda' or 'budget', not both")
    }
    return (lambda, budget)
}

/// Writes a record to the decision log (when configured); a failed write fails the request, since the log is the
/// deployment's record of what it served.
func logDecision(_ record: DecisionRecord, gateway: Gateway, logger: Logger) async throws {
    guard let log = gateway.log else { return }
    do {
        try await log.append(record)
    } catch {
        gateway.metrics.recordLogError()
        logger.error("decision log write failed", metadata: ["error": "\(error)"])
        throw GatewayError(.internalServerError, code: "log_unavailable", "the decision log could not be written")
    }
}

/// `POST /v1/route`: the routing decision for a prompt, without generating.
struct RouteController<Context: RequestContext> {
    let gateway: Gateway

    var endpoints: RouteCollection<Context> {
        RouteCollection(context: Context.self).post(use: route)
    }

    @Sendable func route(_ request: Request, context: Context) async throws -> Response {
        let arrival = Date()
        let start = ContinuousClock.now
        let id = requestID(of: request)
        let body = try await RequestBody.collect(request, limit: gateway.config.limits.maxBodyBytes)
        let input = try RequestBody.decode(RouteRequest.self, from: body)
        let prompt = try RequestBody.prompt(input.prompt, limit: gateway.config.limits.maxPromptCharacters)
        let (lambda, budget) = try checkedLambda(input.lambda, budget: input.budget)
        let decision = try await gateway.decide(prompt: prompt, lambda: lambda, budget: budget)
        let chosen = decision.routing.generator
        gateway.observe(decision, endpoint: "route")
        let output = RouteResponse(
            requestId: id, generator: chosen, lambda: decision.routing.lambda,
            lambdaSource: decision.lambdaSource.rawValue,
            candidates: decision.routing.candidates.map {
                .init(generator: $0.generator, predictedQuality: $0.predictedQuality, cost: $0.cost, score: $0.score)
            }, skippedGenerators: decision.skipped, decisionMs: decision.seconds * 1000,
            ruleGenerator: decision.ruleGenerator, explored: decision.explored, propensity: decision.propensity,
            routerDigest: decision.routerDigest)
        try await logDecision(
            DecisionRecord(
                time: arrival, requestID: id, endpoint: "route", prompt: prompt, chosenGenerator: chosen,
                lambda: decision.routing.lambda, lambdaSource: decision.lambdaSource.rawValue,
                predicted: Dictionary(uniqueKeysWithValues: zip(gateway.generatorNames, decision.predicted)),
                cost: gateway.costs[gateway.generatorNames.firstIndex(of: chosen) ?? 0],
                latencyMilliseconds: (ContinuousClock.now - start).seconds * 1000,
                decisionMilliseconds: decision.seconds * 1000, status: 200, propensity: decision.propensity,
                explored: decision.explored, routerDigest: decision.routerDigest),
            gateway: gateway, logger: context.logger)
        return try JSONResponse.make(output, headers: [HTTPField.Name("x-request-id")!: id])
    }
}

/// `POST /v1/images/generations`: route (or force) a generator, generate, fall back when a backend fails.
struct ImagesController<Context: RequestContext> {
    let gateway: Gateway
    static var generatorHeader: HTTPField.Name { HTTPField.Name("x-catimage-generator")! }

    var endpoints: RouteCollection<Context> {
        RouteCollection(context: Context.self).post(use: generate)
    }

    @Sendable func generate(_ request: Request, context: Context) async throws -> Response {
        let arrival = Date()
        let start = ContinuousClock.now
        let id = requestID(of: request)
        let limits = gateway.config.limits
        let body = try await RequestBody.collect(request, limit: limits.maxBodyBytes)
        let input = try RequestBody.decode(ImagesRequest.self, from: body)
        let prompt = try RequestBody.prompt(input.prompt, limit: limits.maxPromptCharacters)
        let count = input.n ?? 1
        guard (1...limits.maxImagesPerRequest).contains(count) else {
            throw GatewayError(
                .badRequest, code: "invalid_field", "field 'n' must be between 1 and \(limits.maxImagesPerRequest)")
        }
        let format = input.responseFormat ?? "b64_json"
        guard format == "b64_json" else {
            throw GatewayError(
                .badRequest, code: "unsupported_response_format",
                "response_format '\(format)' is not supported; use b64_json")
        }
        var size: ImageSize?
        if let text = input.size {
            guard let parsed = ImageSize(parsing: text) else {
                throw GatewayError(
                    .badRequest, code: "invalid_field", "field 'size' must look like 512x512 (8 to 8192 each)")
            }
            size = parsed
        }
        let model = input.model ?? "auto"
        guard model == "auto" || gateway.backends[model] != nil else {
            throw GatewayError(
                .badRequest, code: "unknown_generator",
                "model '\(model)' is not a generator; use \"auto\" or one of: "
                    + gateway.generatorNames.joined(separator: ", "))
        }
        let (lambda, budget) = try checkedLambda(input.lambda, budget: input.budget)
        let decision = try await gateway.decide(
            prompt: prompt, lambda: lambda, budget: budget, explore: model == "auto")
        let chosen = model == "auto" ? decision.routing.generator : model
        if model == "auto" && decision.noneAvailable {
            gateway.observe(decision, endpoint: "images")
            throw unavailable(
                "every generator's circuit breaker is open; retry later", id: id,
                retryAfter: gateway.health.secondsUntilAnyProbe())
        }
        // A forced generator is the client's explicit choice: no fallback to others. Routed requests walk the rule's
        // ranking over the generators that are up, from the explored pick when exploration replaced the rule's.
        let order =
            model == "auto"
            ? [chosen]
                + decision.routing.candidates.map(\.generator).filter { name in
                    name != chosen
                        && (gateway.generatorNames.firstIndex(of: name).map { decision.available[$0] } ?? false)
                } : [model]
        let predicted = Dictionary(uniqueKeysWithValues: zip(gateway.generatorNames, decision.predicted))

        var record = DecisionRecord(
            time: arrival, requestID: id, endpoint: "images", prompt: prompt, chosenGenerator: chosen,
            lambda: decision.routing.lambda, lambdaSource: model == "auto" ? decision.lambdaSource.rawValue : "forced",
            predicted: predicted, cost: nil, latencyMilliseconds: 0, decisionMilliseconds: decision.seconds * 1000,
            status: 200, propensity: decision.propensity, explored: decision.explored,
            routerDigest: decision.routerDigest)
        do {
            let result = try await gateway.generate(prompt: prompt, count: count, size: size, order: order)
            var observed = decision
            if model != "auto" {
                observed.lambdaSource = .request
                observed.routing.generator = model
            }
            gateway.observe(observed, endpoint: "images")
            if result.servedBy != chosen { gateway.metrics.recordFallback(from: chosen, to: result.servedBy) }
            let cost = gateway.costs[gateway.generatorNames.firstIndex(of: result.servedBy) ?? 0]
            gateway.metrics.recordServed(cost: cost)
            record.servedBy = result.servedBy
            record.cost = cost
            record.backend = result.backend
            record.attempts = result.attempts
            record.latencyMilliseconds = (ContinuousClock.now - start).seconds * 1000
            try await logDecision(record, gateway: gateway, logger: context.logger)
            gateway.scoring?.offer(requestID: id, prompt: prompt, images: result.images)
            let output = ImagesResponse(
                created: Int(arrival.timeIntervalSince1970), data: result.images.map { .init(b64Json: $0) },
                generator: result.servedBy,
                catimage: .init(
                    requestId: id, requested: model, chosenGenerator: chosen, lambda: decision.routing.lambda,
                    lambdaSource: record.lambdaSource, fallbackAttempts: result.attempts,
                    skippedGenerators: model == "auto" ? decision.skipped : [], decisionMs: decision.seconds * 1000,
                    explored: decision.explored, propensity: decision.propensity, routerDigest: decision.routerDigest))
            return try JSONResponse.make(
                output, headers: [Self.generatorHeader: result.servedBy, HTTPField.Name("x-request-id")!: id])
        } catch let failure as GenerationFailure {
            var observed = decision
            if model != "auto" {
                observed.lambdaSource = .request
                observed.routing.generator = model
            }
            gateway.observe(observed, endpoint: "images")
            record.attempts = failure.attempts
            record.status = 502
            record.error = "all generators failed"
            record.latencyMilliseconds = (ContinuousClock.now - start).seconds * 1000
            if failure.attempts.isEmpty {
                // Nothing was tried: the forced generator's breaker is open (or every breaker opened meanwhile).
                record.status = 503
                record.error = "circuit breaker open"
                try await logDecision(record, gateway: gateway, logger: context.logger)
                throw unavailable(
                    "the circuit breaker of \(order.joined(separator: ", ")) is open; retry later", id: id,
                    retryAfter: gateway.health.secondsUntilAnyProbe())
            }
            try await logDecision(record, gateway: gateway, logger: context.logger)
            throw GatewayError(
                .badGateway, code: "all_backends_failed",
                "no backend produced an image; tried: \(order.joined(separator: ", "))", failures: failure.attempts,
                headers: [HTTPField.Name("x-request-id")!: id])
        }
    }
}

/// 503 `generator_unavailable` with `Retry-After` (whole seconds, at least 1).
private func unavailable(_ message: String, id: String, retryAfter: Double) -> GatewayError {
    GatewayError(
        .serviceUnavailable, code: "generator_unavailable", message,
        headers: [
            HTTPField.Name("x-request-id")!: id, .retryAfter: "\(max(1, Int(retryAfter.rounded(.up))))",
        ])
}

/// `GET /healthz` (liveness and detail), `GET /readyz` (for load balancers) and `GET /metrics`.
struct OperationsController<Context: RequestContext> {
    let gateway: Gateway

    struct Health: Encodable {
        struct Breaker: Encodable {
            var generator: String
            var state: String
            var opened: Int
            var lastTrip: String?
            var secondsUntilProbe: Double
        }
        struct Admission: Encodable {
            var inFlight: Int
            var queued: Int
            var maxInFlight: Int
            var maxQueue: Int
            var refused: [String: Int]
        }
        /// `ok`, `degraded` (some breaker not closed) or `overloaded` (shedding load).
        var status: String
        var generators: [String]
        /// Every generator's circuit breaker.
        var breakers: [Breaker]
        var admission: Admission
        var lambda: Double
        var targetMeanCost: Double?
        var realisedMeanCost: Double?
        var decisions: Int
    }

    /// `/readyz`'s body.
    struct Readiness: Encodable {
        var ready: Bool
        var reasons: [String]
    }

    func addRoutes(to router: Router<Context>) {
        router.get("/healthz") { _, _ in
            let snapshot = gateway.budget.snapshot
            let statuses = gateway.health.statuses()
            let admission = gateway.admission.snapshot
            // Degraded: some generator is skipped; the gateway still serves with the others.
            let status =
                admission.overloaded ? "overloaded" : statuses.allSatisfy { $0.state == .closed } ? "ok" : "degraded"
            return try JSONResponse.make(
                Health(
                    status: status, generators: gateway.generatorNames,
                    breakers: statuses.map {
                        .init(
                            generator: $0.generator, state: $0.state.rawValue, opened: $0.opened,
                            lastTrip: $0.lastTrip?.rawValue, secondsUntilProbe: $0.secondsUntilProbe)
                    },
                    admission: .init(
                        inFlight: admission.inFlight, queued: admission.queued,
                        maxInFlight: gateway.config.admission.maxInFlight, maxQueue: gateway.config.admission.maxQueue,
                        refused: Dictionary(uniqueKeysWithValues: admission.refused.map { ($0.key.rawValue, $0.value) })
                    ),
                    lambda: snapshot.lambda,
                    targetMeanCost: snapshot.target, realisedMeanCost: snapshot.realisedMeanCost,
                    decisions: snapshot.decisions))
        }
        // Ready: not shedding load and some generator can take traffic. A load balancer takes a replica that is not
        // ready out of rotation; `/healthz` stays 200 so an orchestrator does not restart a busy but live process.
        router.get("/readyz") { _, _ in
            var reasons: [String] = []
            if gateway.admission.snapshot.overloaded { reasons.append("overloaded") }
            if !gateway.health.availability().contains(true) { reasons.append("no_generator_available") }
            return try JSONResponse.make(
                Readiness(ready: reasons.isEmpty, reasons: reasons),
                status: reasons.isEmpty ? .ok : .serviceUnavailable,
                headers: reasons.isEmpty ? [:] : [.retryAfter: "\(max(1, gateway.config.admission.retryAfterSeconds))"])
        }
        router.get("/metrics") { _, _ in
            let text =
                gateway.metrics.render(
                    budget: gateway.budget.snapshot, breakers: gateway.health.statuses(),
                    admission: gateway.admission.snapshot) + gateway.learningMetrics.render()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }
}
