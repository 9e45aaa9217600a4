import CATImage
import CATImageGateway
import CATImageTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Gateway over real HTTP against local A1111 and OpenAI servers", .serialized)
struct GatewayHTTPTests {
    let harness: GatewayHarness

    init() async throws { harness = try GatewayHarness(predictor: try await TestRouter.shared()) }

    @Test("/v1/route returns the rule's decision with predicted quality and cost for every generator")
    func routeDecision() async throws {
        try await harness.run { client, gateway in
            let reply = try await client.postJSON("/v1/route", #"{"prompt": "a red car in the rain", "lambda": 0}"#)
            #expect(reply.status == .ok)
            let candidates = try #require(reply.json["candidates"] as? [[String: Any]])
            #expect(Set(candidates.compactMap { $0["generator"] as? String }) == Set(gateway.generatorNames))
            let qualities = candidates.compactMap { $0["predicted_quality"] as? Double }
            #expect(qualities.count == gateway.generatorNames.count)
            // λ = 0: the highest predicted quality wins, and it is listed first.
            let best = candidates.max {
                ($0["predicted_quality"] as? Double ?? 0) < ($1["predicted_quality"] as? Double ?? 0)
            }
            #expect(reply.json["generator"] as? String == best?["generator"] as? String)
            #expect(candidates.first?["generator"] as? String == reply.json["generator"] as? String)
            #expect(reply.json["lambda"] as? Double == 0)
            #expect(reply.json["lambda_source"] as? String == "request")
            #expect((reply.json["decision_ms"] as? Double ?? -1) >= 0)

            // A huge λ sends the prompt to the cheapest generator.
            let cheap = try await client.postJSON("/v1/route", #"{"prompt": "a red car in the rain", "lambda": 1e9}"#)
            let cheapest = zip(gateway.generatorNames, gateway.costs).min { $0.1 < $1.1 }?.0
            #expect(cheap.json["generator"] as? String == cheapest)
        }
    }

    @Test("auto routing generates with the routed generator and says which one produced the image")
    func routedGeneration() async throws {
        try await harness.run { client, gateway in
            let prompt = "a colorful park with a crowd of people"
            let route = try await client.postJSON("/v1/route", #"{"prompt": \#(jsonString(prompt)), "lambda": 0}"#)
            let expected = try #require(route.json["generator"] as? String)
            let reply = try await client.postJSON(
                "/v1/images/generations",
                #"{"prompt": \#(jsonString(prompt)), "n": 2, "model": "auto", "lambda": 0, "response_format": "b64_json"}"#
            )
            #expect(reply.status == .ok)
            #expect(reply.headers[HTTPField.Name("x-catimage-generator")!] == expected)
            #expect(reply.json["generator"] as? String == expected)
            let data = try #require(reply.json["data"] as? [[String: Any]])
            #expect(data.count == 2)
            for item in data {
                let bytes = Array(Data(base64Encoded: item["b64_json"] as? String ?? "") ?? Data())
                #expect(PNGBytes.isValid(bytes))
            }
            let stub = harness.stub(for: expected)
            #expect(stub.requestCount == 1)
            #expect(stub.requests.first?["prompt"] as? String == prompt)
        }
    }

    @Test("a generator named in `model` is used even when the rule prefers another, with its backend settings")
    func forcedGenerator() async throws {
        try await harness.run { client, gateway in
            for (index, name) in gateway.generatorNames.enumerated() {
                let reply = try await client.postJSON(
                    "/v1/images/generations", #"{"prompt": "a white and empty wall", "model": \#(jsonString(name))}"#)
                #expect(reply.status == .ok)
                #expect(reply.headers[HTTPField.Name("x-catimage-generator")!] == name)
                let request = try #require(harness.stub(for: name).requests.last)
                if index % 2 == 0 {
                    #expect(request["steps"] as? Int == 4 + index * 8)
                    #expect(request["sampler_name"] as? String == "Euler a")
                    #expect(request["width"] as? Int == 512)
                } else {
                    #expect(request["model"] as? String == "model-\(name)")
                    #expect(request["response_format"] as? String == "b64_json")
                }
            }
        }
    }

    @Test("a backend answering 5xx is retried, then the next-best generator serves the request")
    func fallbackOnServerError() async throws {
        try await harness.run { client, gateway in
            let prompt = "a lighthouse on a cliff at dusk"
            let route = try await client.postJSON("/v1/route", #"{"prompt": \#(jsonString(prompt)), "lambda": 0}"#)
            let order = (route.json["candidates"] as? [[String: Any]] ?? []).compactMap { $0["generator"] as? String }
            try #require(order.count >= 2)
            harness.stub(for: order[0]).behaviour = .fail(status: 503)
            let reply = try await client.postJSON(
                "/v1/images/generations", #"{"prompt": \#(jsonString(prompt)), "lambda": 0}"#)
            #expect(reply.status == .ok)
            #expect(reply.headers[HTTPField.Name("x-catimage-generator")!] == order[1])
            #expect(harness.stub(for: order[0]).requestCount == 2)  // one try and one retry
            let routing = reply.json["catimage"] as? [String: Any]
            #expect(routing?["chosen_generator"] as? String == order[0])
            let attempts = routing?["fallback_attempts"] as? [String] ?? []
            #expect(attempts.count == 2 && attempts.allSatisfy { $0.hasPrefix(order[0]) && $0.contains("HTTP 503") })
        }
    }

    @Test("a backend that times out, and one that refuses connections, fall back to the next generator")
    func fallbackOnTimeoutAndRefusal() async throws {
        let prompt = "an astronaut riding a horse on the moon"
        let predicted = try #require(harness.predictor.predictQualities(for: [prompt]).first)
        let ranking = RoutingRule.ranking(predicted: predicted, costs: harness.predictor.generatorCosts, lambda: 0)
        let order = ranking.map { harness.predictor.generatorNames[$0] }
        try await harness.run(customise: { $0.generators[order[0]]?.timeoutSeconds = 0.5 }) { client, gateway in
            harness.stub(for: order[0]).behaviour = .stall(seconds: 3)
            let start = ContinuousClock.now
            let reply = try await client.postJSON(
                "/v1/images/generations", #"{"prompt": \#(jsonString(prompt)), "lambda": 0}"#)
            #expect(reply.status == .ok)
            #expect(reply.headers[HTTPField.Name("x-catimage-generator")!] == order[1])
            // Two attempts cut at 0.5 s each, not two of the stub's 3 s (which would take 6 s or more); the bound
            // leaves room for a loaded machine while still failing if the timeout were not applied.
            #expect(ContinuousClock.now - start < .seconds(5.5))
            let attempts = (reply.json["catimage"] as? [String: Any])?["fallback_attempts"] as? [String] ?? []
            #expect(attempts.count == 2 && attempts.allSatisfy { $0.hasPrefix(order[0]) && $0.contains("timeout") })
        }

        // Refused connection: the rule's first choice points at a port with nothing listening.
        let first = order[0]
        let second = order[1]
        let refused = try closedPort()
        try await harness.run(customise: { config in
            config.generators[first]?.baseURL = "http://127.0.0.1:\(refused)"
        }) { client, _ in
            let reply = try await client.postJSON(
                "/v1/images/generations", #"{"prompt": \#(jsonString(prompt)), "model": "auto", "lambda": 0}"#)
            #expect(reply.status == .ok)
            #expect(reply.headers[HTTPField.Name("x-catimage-generator")!] == second)
            let attempts = (reply.json["catimage"] as? [String: Any])?["fallback_attempts"] as? [String] ?? []
            #expect(attempts.count == 2 && attempts.allSatisfy { $0.hasPrefix(first) && $0.contains("connection") })
            let forced = try await client.postJSON(
                "/v1/images/generations", #"{"prompt": \#(jsonString(prompt)), "model": \#(jsonString(first))}"#)
            #expect(forced.status == .badGateway)
            let failures = (forced.json["error"] as? [String: Any])?["failures"] as? [String] ?? []
            #expect(failures.count == 2 && failures.allSatisfy { $0.contains("connection") })
        }
    }

    @Test("when every backend fails the gateway answers 502 naming each failed attempt, and keeps serving")
    func allBackendsDown() async throws {
        try await harness.run { client, gateway in
            for stub in harness.stubs { stub.behaviour = .fail(status: 500) }
            let reply = try await client.postJSON("/v1/images/generations", #"{"prompt": "a cat wearing a hat"}"#)
            #expect(reply.status == .badGateway)
            let error = try #require(reply.json["error"] as? [String: Any])
            #expect(error["code"] as? String == "all_backends_failed")
            let failures = error["failures"] as? [String] ?? []
            #expect(failures.count == 2 * gateway.generatorNames.count)
            for name in gateway.generatorNames {
                #expect(failures.contains { $0.hasPrefix(name) && $0.contains("HTTP 500") })
            }
            for stub in harness.stubs { stub.behaviour = .succeed }
            let again = try await client.postJSON("/v1/images/generations", #"{"prompt": "a cat wearing a hat"}"#)
            #expect(again.status == .ok)
        }
    }

    struct BadRequest: Sendable, CustomStringConvertible {
        var name: String
        var uri: String
        var body: [UInt8]
        var status: Int
        var code: String
        var description: String { name }
    }

    static let badRequests: [BadRequest] = [
        .init(
            name: "no prompt", uri: "/v1/route", body: Array(#"{"lambda": 1}"#.utf8), status: 400,
            code: "missing_prompt"),
        .init(
            name: "blank prompt", uri: "/v1/images/generations", body: Array(#"{"prompt": "   "}"#.utf8), status: 400,
            code: "empty_prompt"),
        .init(
            name: "prompt over the limit", uri: "/v1/route",
            body: Array("{\"prompt\": \"\(String(repeating: "a", count: 301))\"}".utf8), status: 400,
            code: "prompt_too_long"),
        .init(
            name: "bad JSON", uri: "/v1/route", body: Array(#"{"prompt": "a cat""#.utf8), status: 400,
            code: "invalid_json"),
        .init(
            name: "not an object", uri: "/v1/route", body: Array(#"["a cat"]"#.utf8), status: 400, code: "invalid_json"),
        .init(
            name: "prompt of the wrong type", uri: "/v1/route", body: Array(#"{"prompt": 12}"#.utf8), status: 400,
            code: "invalid_field"),
        .init(
            name: "negative lambda", uri: "/v1/route", body: Array(#"{"prompt": "a", "lambda": -1}"#.utf8), status: 400,
            code: "invalid_field"),
        .init(
            name: "unknown generator", uri: "/v1/images/generations",
            body: Array(#"{"prompt": "a cat", "model": "dall-e-9"}"#.utf8), status: 400, code: "unknown_generator"),
        .init(
            name: "n out of range", uri: "/v1/images/generations", body: Array(#"{"prompt": "a cat", "n": 99}"#.utf8),
            status: 400, code: "invalid_field"),
        .init(
            name: "url response format", uri: "/v1/images/generations",
            body: Array(#"{"prompt": "a cat", "response_format": "url"}"#.utf8), status: 400,
            code: "unsupported_response_format"),
        .init(
            name: "malformed size", uri: "/v1/images/generations",
            body: Array(#"{"prompt": "a cat", "size": "big"}"#.utf8),
            status: 400, code: "invalid_field"),
        .init(
            name: "invalid UTF-8", uri: "/v1/route",
            body: Array(#"{"prompt": "caf"#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8),
            status: 400, code: "invalid_utf8"),
        .init(
            name: "body over the limit", uri: "/v1/images/generations",
            body: Array("{\"prompt\": \"\(String(repeating: "b", count: 5000))\"}".utf8), status: 413,
            code: "body_too_large"),
    ]

    @Test("each bad request gets a 400 or 413 JSON error and the server keeps serving", arguments: badRequests)
    func badRequest(_ bad: BadRequest) async throws {
        try await harness.run(customise: { config in
            config.limits.maxPromptCharacters = 300
            config.limits.maxBodyBytes = 4096
        }) { client, _ in
            let reply = try await client.postBytes(bad.uri, bad.body)
            #expect(Int(reply.status.code) == bad.status)
            let error = reply.json["error"] as? [String: Any]
            #expect(error?["code"] as? String == bad.code)
            #expect((error?["message"] as? String ?? "").isEmpty == false)
            let next = try await client.postJSON("/v1/route", #"{"prompt": "a cat"}"#)
            #expect(next.status == .ok)
        }
    }

    @Test("with tokens configured, /v1 needs a valid bearer token; health and metrics stay open")
    func bearerAuth() async throws {
        try await harness.run(customise: { $0.auth.tokens = ["token-one", "token-two"] }) { client, _ in
            let missing = try await client.postJSON("/v1/route", #"{"prompt": "a cat"}"#)
            #expect(missing.status == .unauthorized)
            #expect((missing.json["error"] as? [String: Any])?["code"] as? String == "missing_token")
            #expect(missing.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            let wrong = try await client.postJSON(
                "/v1/route", #"{"prompt": "a cat"}"#, headers: [.authorization: "Bearer token-three"])
            #expect(wrong.status == .unauthorized)
            let right = try await client.postJSON(
                "/v1/images/generations", #"{"prompt": "a cat"}"#, headers: [.authorization: "Bearer token-two"])
            #expect(right.status == .ok)
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
        }
    }

    @Test("every decision is logged with its outcome, and /metrics reports requests, decisions, errors and λ")
    func logAndMetrics() async throws {
        let ids = try await harness.run { client, gateway in
            var ids: [String] = []
            for index in 0..<4 {
                let id = "req-\(index)"
                let uri = index % 2 == 0 ? "/v1/route" : "/v1/images/generations"
                let reply = try await client.postJSON(
                    uri, #"{"prompt": "prompt number \#(index)"}"#, headers: [HTTPField.Name("x-request-id")!: id])
                #expect(reply.status == .ok)
                ids.append(id)
            }
            for stub in harness.stubs { stub.behaviour = .fail(status: 502) }
            let failed = try await client.postJSON(
                "/v1/images/generations", #"{"prompt": "doomed"}"#,
                headers: [HTTPField.Name("x-request-id")!: "req-fail"])
            #expect(failed.status == .badGateway)
            ids.append("req-fail")
            _ = try await client.postJSON("/v1/route", #"{}"#)

            let metrics = try await client.execute(uri: "/metrics", method: .get)
            let text = String(buffer: metrics.body)
            #expect(text.contains(#"catimage_http_requests_total{route="/v1/route",status="200"} 2"#))
            #expect(text.contains(#"catimage_http_requests_total{route="/v1/route",status="400"} 1"#))
            #expect(text.contains(#"catimage_http_requests_total{route="/v1/images/generations",status="502"} 1"#))
            #expect(text.contains("catimage_decisions_total{generator="))
            #expect(text.contains(#"catimage_backend_errors_total{generator=""#))
            #expect(text.contains("catimage_http_request_duration_seconds_bucket{route=\"/v1/route\",le=\"+Inf\"} 3"))
            #expect(text.contains("catimage_lambda "))
            #expect(text.contains("catimage_realised_mean_cost "))
            return ids
        }
        let log = try DecisionLog(readingFrom: harness.logPath)
        let records = try log.records()
        #expect(records.map(\.requestID) == ids)
        let images = records.filter { $0.endpoint == "images" && $0.status == 200 }
        #expect(images.count == 2)
        for record in images {
            #expect(record.servedBy != nil && record.backend != nil && record.cost != nil)
            #expect(record.predicted.count == harness.predictor.generatorNames.count)
            #expect(record.latencyMilliseconds >= record.decisionMilliseconds)
        }
        let failed = try #require(records.last)
        #expect(failed.status == 502 && failed.servedBy == nil && !failed.attempts.isEmpty)
    }
}
