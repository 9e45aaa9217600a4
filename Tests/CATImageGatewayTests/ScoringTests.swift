import CATImageGateway
import CATImageTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import Testing

/// A scorer on 127.0.0.1 speaking the protocol of `catimage score`: the score of an item is its prompt's length
/// divided by 100; it can be made to stall before answering.
final class StandInScorer: Sendable {
    private let state = NIOLockedValueBox((stallSeconds: 0.0, requests: 0, items: 0))

    var stallSeconds: Double {
        get { state.withLockedValue { $0.stallSeconds } }
        set { state.withLockedValue { $0.stallSeconds = newValue } }
    }
    var requestCount: Int { state.withLockedValue { $0.requests } }

    static func score(prompt: String) -> Double { Double(prompt.count) / 100 }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/score") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 64 << 20)
            let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
            let items = object?["items"] as? [[String: Any]] ?? []
            let stall = self.state.withLockedValue { state in
                state.requests += 1
                state.items += items.count
                return state.stallSeconds
            }
            if stall > 0 { try await Task.sleep(for: .milliseconds(Int(stall * 1000))) }
            let scores: [[String: Any]] = items.map { item in
                let hasImage = (item["image_png_base64"] as? String).flatMap { Data(base64Encoded: $0) } != nil
                return [
                    "id": item["id"] ?? "",
                    "score": hasImage ? Self.score(prompt: item["prompt"] as? String ?? "") : "no image",
                ]
            }
            let data = try JSONSerialization.data(withJSONObject: ["scores": scores, "metric": object?["metric"] ?? ""])
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        return router
    }
}

@Suite("Scored samples: the scoring: section scores served images off the request path", .serialized)
struct ScoringTests {
    let harness: GatewayHarness

    init() async throws { harness = try GatewayHarness(predictor: try await TestRouter.shared()) }

    @Test("every sampled image is scored by the scorer and stored as a feedback row with source scorer")
    func scoresSamples() async throws {
        let scorer = StandInScorer()
        try await withLocalServers([scorer.router()]) { ports in
            try await harness.run(customise: { config in
                var scoring = GatewayConfig.ScoringSettings(url: "http://127.0.0.1:\(ports[0])/score", metric: "clip")
                scoring.sampleRate = 1
                config.scoring = scoring
            }) { client, gateway in
                let prompts = ["a red car", "a lighthouse on a cliff at dusk", "a bowl of ramen", "a fox in snow"]
                var ids: [String: String] = [:]
                for prompt in prompts {
                    let reply = try await client.postJSON(
                        "/v1/images/generations", #"{"prompt": \#(jsonString(prompt)), "n": 2}"#)
                    #expect(reply.status == .ok)
                    ids[try #require((reply.json["catimage"] as? [String: Any])?["request_id"] as? String)] = prompt
                }
                // A /v1/route decision has no image: never sampled.
                _ = try await client.postJSON("/v1/route", #"{"prompt": "only routed"}"#)
                let log = try #require(gateway.log)
                var rows: [FeedbackRecord] = []
                for _ in 0..<300 {  // at most 30 s
                    rows = try await log.feedback()
                    if rows.count >= 2 * prompts.count { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(rows.count == 2 * prompts.count)
                for row in rows {
                    let prompt = try #require(ids[row.requestID])
                    #expect(row.score == StandInScorer.score(prompt: prompt))
                    #expect(row.metric == "clip" && row.source == "scorer")
                }
                #expect(Set(rows.map(\.requestID)) == Set(ids.keys))
                let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                #expect(metrics.contains(#"catimage_feedback_total{origin="scorer"} 8"#))
                #expect(metrics.contains(#"catimage_scoring_samples_total{outcome="queued"} 4"#))
                #expect(metrics.contains(#"catimage_scoring_samples_total{outcome="scored"} 4"#))
                #expect(metrics.contains(#"catimage_scoring_samples_total{outcome="dropped"} 0"#))
            }
        }
    }

    @Test("with a stalled scorer the queue overflows: samples are dropped and counted, requests are not slowed")
    func overflowDropsAndCounts() async throws {
        let scorer = StandInScorer()
        scorer.stallSeconds = 30
        try await withLocalServers([scorer.router()]) { ports in
            try await harness.run(customise: { config in
                var scoring = GatewayConfig.ScoringSettings(url: "http://127.0.0.1:\(ports[0])/score", metric: "clip")
                scoring.sampleRate = 1
                scoring.concurrency = 1
                scoring.queueCapacity = 2
                scoring.timeoutSeconds = 30
                config.scoring = scoring
            }) { client, gateway in
                let total = 20
                var slowest = Duration.zero
                for index in 0..<total {
                    let start = ContinuousClock.now
                    let reply = try await client.postJSON(
                        "/v1/images/generations", #"{"prompt": "a red car number \#(index)"}"#)
                    slowest = max(slowest, ContinuousClock.now - start)
                    #expect(reply.status == .ok)
                }
                // A request that waited for its sample to be scored would take the scorer's 30 s stall at least.
                #expect(slowest < .seconds(20), "slowest image request took \(slowest)")
                let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                let dropped = Int(gateway.learningMetrics.droppedSamples)
                #expect(dropped > 0)
                #expect(metrics.contains(#"catimage_scoring_samples_total{outcome="dropped"} \#(dropped)"#))
                #expect(metrics.contains(#"catimage_scoring_samples_total{outcome="queued"} \#(total - dropped)"#))
                // Queue (2) + one scoring + one held by the dispatcher; more only if the run outlasted the stall.
                #expect(total - dropped >= 4)
                #expect(try await gateway.log?.feedback().isEmpty == true)
            }
        }
    }

    @Test("the scoring section is validated: URL, metric, sample_rate in [0, 1], and it needs the log")
    func configValidated() throws {
        let withLog = ConfigFixture.minimal + "\nlog: {path: d.sqlite}\n"
        let good = try GatewayConfig.parse(
            yaml: withLog
                + "scoring: {url: \"http://127.0.0.1:7862/score\", metric: clip, sample_rate: 0.25, concurrency: 3, queue_capacity: 9, timeout_seconds: 4}"
        )
        var expected = GatewayConfig.ScoringSettings(url: "http://127.0.0.1:7862/score", metric: "clip")
        expected.sampleRate = 0.25
        expected.concurrency = 3
        expected.queueCapacity = 9
        expected.timeoutSeconds = 4
        #expect(good.scoring == expected)
        let bad: [(String, String)] = [
            (withLog + "scoring: {url: \"ftp://x\", metric: clip}", "scoring.url"),
            (withLog + "scoring: {url: \"http://x/score\"}", "scoring.metric"),
            (withLog + "scoring: {url: \"http://x/score\", metric: clip, sample_rate: 2}", "scoring.sample_rate"),
            (withLog + "scoring: {url: \"http://x/score\", metric: clip, concurrency: 0}", "scoring.concurrency"),
            (ConfigFixture.minimal + "\nscoring: {url: \"http://x/score\", metric: clip}", "scoring.url"),
        ]
        for (yaml, key) in bad {
            #expect(throws: ConfigError.self, "\(key)") { try GatewayConfig.parse(yaml: yaml) }
            do {
                _ = try GatewayConfig.parse(yaml: yaml)
            } catch {
                #expect(error.key == key, "\(error)")
            }
        }
    }
}
