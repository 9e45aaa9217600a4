import CATImageGateway
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Feedback: POST /v1/feedback and the decision log's schema v2", .serialized)
struct FeedbackTests {
    let harness: GatewayHarness

    init() async throws { harness = try GatewayHarness(predictor: try await TestRouter.shared()) }

    @Test("feedback for a logged request is stored (several rows per request), answered 201, and counted")
    func storesFeedback() async throws {
        try await harness.run { client, gateway in
            let image = try await client.postJSON("/v1/images/generations", #"{"prompt": "a red car in the rain"}"#)
            #expect(image.status == .ok)
            let imageID = try #require((image.json["catimage"] as? [String: Any])?["request_id"] as? String)
            let route = try await client.postJSON("/v1/route", #"{"prompt": "a lighthouse at dusk"}"#)
            let routeID = try #require(route.json["request_id"] as? String)

            let first = try await client.postJSON(
                "/v1/feedback",
                #"{"request_id": \#(jsonString(imageID)), "score": 0.75, "metric": "thumbs", "source": "user"}"#)
            #expect(first.status == .created)
            #expect(first.json["request_id"] as? String == imageID)
            #expect(first.json["score"] as? Double == 0.75)
            #expect(first.json["metric"] as? String == "thumbs")
            #expect(first.json["source"] as? String == "user")
            let second = try await client.postJSON(
                "/v1/feedback", #"{"request_id": \#(jsonString(imageID)), "score": -3}"#)
            #expect(second.status == .created)
            let third = try await client.postJSON(
                "/v1/feedback", #"{"request_id": \#(jsonString(routeID)), "score": 31.5, "metric": "clip"}"#)
            #expect(third.status == .created)

            let metrics = try await client.execute(uri: "/metrics", method: .get)
            let text = String(buffer: metrics.body)
            #expect(text.contains(#"catimage_feedback_total{origin="api"} 3"#))
            #expect(text.contains(#"catimage_http_requests_total{route="/v1/feedback",status="201"} 3"#))

            let log = try #require(gateway.log)
            let rows = try await log.feedback()
            #expect(rows.map(\.requestID) == [imageID, imageID, routeID])
            #expect(rows.map(\.score) == [0.75, -3, 31.5])
            #expect(rows.map(\.metric) == ["thumbs", nil, "clip"])
            #expect(rows.map(\.source) == ["user", nil, nil])
            #expect(try await log.containsDecision(requestID: imageID))
            #expect(try await !log.containsDecision(requestID: "never-seen"))
        }
    }

    @Test("an unknown request id gets 404, and bad bodies get 400 (413 when too large) in the error shape")
    func rejectsBadFeedback() async throws {
        try await harness.run { client, gateway in
            let route = try await client.postJSON("/v1/route", #"{"prompt": "a lighthouse at dusk"}"#)
            let id = try #require(route.json["request_id"] as? String)
            let unknown = try await client.postJSON("/v1/feedback", #"{"request_id": "no-such-id", "score": 1}"#)
            #expect(unknown.status == .notFound)
            #expect((unknown.json["error"] as? [String: Any])?["code"] as? String == "unknown_request_id")

            let bad: [(String, String)] = [
                ("not json", "invalid_json"),
                ("[1, 2]", "invalid_json"),
                (#"{"score": 1}"#, "missing_request_id"),
                (#"{"request_id": \#(jsonString(id))}"#, "missing_score"),
                (#"{"request_id": \#(jsonString(id)), "score": "high"}"#, "invalid_field"),
                // Not representable as a number: the JSON reader refuses the body.
                (#"{"request_id": \#(jsonString(id)), "score": 1e999}"#, "invalid_json"),
                (#"{"request_id": \#(jsonString(id)), "score": null}"#, "missing_score"),
                (#"{"request_id": 17, "score": 1}"#, "invalid_field"),
                (#"{"request_id": \#(jsonString(id)), "score": 1, "metric": 5}"#, "invalid_field"),
                (#"{"request_id": \#(jsonString(id)), "score": 1, "source": ["a"]}"#, "invalid_field"),
                (
                    #"{"request_id": \#(jsonString(id)), "score": 1, "metric": "\#(String(repeating: "m", count: 200))"}"#,
                    "invalid_field"
                ),
            ]
            for (body, code) in bad {
                let reply = try await client.postJSON("/v1/feedback", body)
                #expect(reply.status == .badRequest, "\(body)")
                let error = reply.json["error"] as? [String: Any]
                #expect(error?["code"] as? String == code, "\(body)")
                #expect(error?["type"] as? String == "invalid_request_error")
            }
            let huge = try await client.postJSON(
                "/v1/feedback",
                #"{"request_id": \#(jsonString(id)), "score": 1, "metric": "\#(String(repeating: "x", count: 70_000))"}"#
            )
            #expect(huge.status == .contentTooLarge)
            #expect((huge.json["error"] as? [String: Any])?["code"] as? String == "body_too_large")
            #expect(try await gateway.log?.feedback().isEmpty == true)
        }
    }

    @Test("with tokens configured, /v1/feedback needs a valid bearer token like the other /v1 routes")
    func feedbackNeedsToken() async throws {
        try await harness.run(customise: { $0.auth.tokens = ["token-one"] }) { client, gateway in
            let auth: HTTPFields = [.authorization: "Bearer token-one"]
            let route = try await client.postJSON("/v1/route", #"{"prompt": "a cat"}"#, headers: auth)
            let id = try #require(route.json["request_id"] as? String)
            let body = #"{"request_id": \#(jsonString(id)), "score": 1}"#
            let missing = try await client.postJSON("/v1/feedback", body)
            #expect(missing.status == .unauthorized)
            #expect((missing.json["error"] as? [String: Any])?["code"] as? String == "missing_token")
            let wrong = try await client.postJSON("/v1/feedback", body, headers: [.authorization: "Bearer nope"])
            #expect(wrong.status == .unauthorized)
            let right = try await client.postJSON("/v1/feedback", body, headers: auth)
            #expect(right.status == .created)
            #expect(try await gateway.log?.feedback().count == 1)
        }
    }

    @Test("a log written with the v1 schema upgrades in place: old rows kept, new columns and feedback table added")
    func upgradesV1Log() async throws {
        let path = harness.logDirectory.appendingPathComponent("v1.sqlite").path
        // The v1 schema exactly as the v1 migration created it, with GRDB's migration bookkeeping.
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                    INSERT INTO grdb_migrations VALUES ('v1');
                    CREATE TABLE decisions (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, request_id TEXT NOT NULL,
                        endpoint TEXT NOT NULL, prompt TEXT NOT NULL, chosen_generator TEXT NOT NULL, served_by TEXT,
                        lambda REAL NOT NULL, lambda_source TEXT NOT NULL, predicted TEXT NOT NULL, cost REAL,
                        backend TEXT, attempts TEXT NOT NULL, latency_ms REAL NOT NULL, decision_ms REAL NOT NULL,
                        status INTEGER NOT NULL, error TEXT);
                    CREATE INDEX decisions_request_id ON decisions(request_id);
                    INSERT INTO decisions (time, request_id, endpoint, prompt, chosen_generator, served_by, lambda,
                        lambda_source, predicted, cost, backend, attempts, latency_ms, decision_ms, status, error)
                    VALUES (1700000000, 'old-1', 'images', 'an old prompt', 'g1', 'g1', 0.5, 'default',
                        '{"g1":30.5}', 2.0, 'a1111 http://x', '[]', 12.5, 1.5, 200, NULL);
                    """)
        }
        try queue.close()
        // Reading without migrating (export of an old log) sees the new fields as absent.
        let reader = try DecisionLog(readingFrom: path)
        let old = try #require(try reader.records().first)
        #expect(old.requestID == "old-1" && old.propensity == nil && !old.explored && old.routerDigest == nil)
        #expect(try reader.feedback().isEmpty)

        let log = try DecisionLog(path: path, synchronous: .normal)
        let kept = try log.records()
        #expect(kept.count == 1)
        #expect(kept.first?.prompt == "an old prompt" && kept.first?.predicted == ["g1": 30.5])
        #expect(kept.first?.propensity == nil && kept.first?.explored == false && kept.first?.routerDigest == nil)
        try await log.append(
            DecisionRecord(
                time: Date(timeIntervalSince1970: 1_700_000_100), requestID: "new-1", endpoint: "route",
                prompt: "a new prompt", chosenGenerator: "g2", lambda: 0.5, lambdaSource: "default",
                predicted: ["g1": 30, "g2": 31], cost: 1, latencyMilliseconds: 3, decisionMilliseconds: 1, status: 200,
                propensity: 0.05, explored: true, routerDigest: String(repeating: "ab", count: 32)))
        try await log.appendFeedback(FeedbackRecord(time: Date(), requestID: "old-1", score: 0.5, source: "judge"))
        let rows = try log.records()
        #expect(rows.count == 2)
        #expect(rows[1].propensity == 0.05 && rows[1].explored && rows[1].routerDigest?.count == 64)
        #expect(try log.containsDecision(requestID: "old-1"))
        #expect(try log.feedback().map(\.requestID) == ["old-1"])
        let migrations = try await DatabaseQueue(path: path).read { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier")
        }
        #expect(migrations == ["v1", "v2"])
    }
}
