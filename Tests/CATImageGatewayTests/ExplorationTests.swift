import CATImageGateway
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOConcurrencyHelpers
import Testing

@Suite("Exploration: uniform ε-exploration of routed requests with logged propensities", .serialized)
struct ExplorationTests {
    let harness: GatewayHarness

    init() async throws { harness = try GatewayHarness(predictor: try await TestRouter.shared()) }

    static let prompts = [
        "a red car in the rain", "a lighthouse on a cliff at dusk", "a bowl of ramen, studio photo",
        "an astronaut riding a horse on the moon", "a sign that says \"open\"", "a watercolor of a fox in snow",
        "a crowded market in Marrakesh at noon", "a macro photo of a dew drop on a leaf",
    ]

    struct Reply: Sendable {
        var id: String
        var generator: String
        var rule: String
        var explored: Bool
        var propensity: Double
    }

    @Test("over 2000 /v1/route requests, explored shares and each generator's share lie within 5σ binomial bounds")
    func sharesWithinBinomialBounds() async throws {
        let rate = 0.3
        let total = 2000
        let replies = try await harness.run(customise: { $0.exploration = .init(rate: rate, seed: 7) }) {
            client, gateway in
            let collected = NIOLockedValueBox([Reply]())
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        for index in stride(from: worker, to: total, by: 4) {
                            let prompt = Self.prompts[index % Self.prompts.count]
                            let reply = try await client.postJSON(
                                "/v1/route", #"{"prompt": \#(jsonString(prompt)), "lambda": 0}"#)
                            #expect(reply.status == .ok)
                            guard let id = reply.json["request_id"] as? String,
                                let generator = reply.json["generator"] as? String,
                                let rule = reply.json["rule_generator"] as? String,
                                let explored = reply.json["explored"] as? Bool,
                                let propensity = reply.json["propensity"] as? Double
                            else {
                                Issue.record("a /v1/route answer lacks the exploration fields: \(reply.json)")
                                continue
                            }
                            collected.withLockedValue {
                                $0.append(
                                    Reply(
                                        id: id, generator: generator, rule: rule, explored: explored,
                                        propensity: propensity))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let replies = collected.withLockedValue { $0 }
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            let explored = replies.filter(\.explored).count
            #expect(metrics.contains("catimage_explored_total \(explored)\n"))
            return replies
        }
        try #require(replies.count == total)
        let names = harness.predictor.generatorNames
        let k = Double(names.count)
        let ruleShare = 1 - rate + rate / k
        let otherShare = rate / k

        // Each answer is consistent: explored picks differ from the rule and carry ε/K, the others 1 − ε + ε/K.
        for reply in replies {
            if reply.explored {
                #expect(reply.generator != reply.rule)
                #expect(abs(reply.propensity - otherShare) < 1e-12)
            } else {
                #expect(reply.generator == reply.rule)
                #expect(abs(reply.propensity - ruleShare) < 1e-12)
            }
        }
        // Explored share: each request is explored with probability ε (K − 1)/K.
        let pExplored = rate * (k - 1) / k
        let explored = Double(replies.filter(\.explored).count)
        let sigma = (Double(total) * pExplored * (1 - pExplored)).squareRoot()
        #expect(abs(explored - Double(total) * pExplored) <= 5 * sigma, "explored \(explored) of \(total)")
        // Each generator's count: a sum of independent Bernoulli draws with the logged rule's probabilities.
        let rules = Set(replies.map(\.rule))
        #expect(rules.count >= 2, "the prompts should reach more than one rule pick: \(rules)")
        for name in names {
            let probabilities = replies.map { $0.rule == name ? ruleShare : otherShare }
            let expected = probabilities.reduce(0, +)
            let deviation = probabilities.map { $0 * (1 - $0) }.reduce(0, +).squareRoot()
            let observed = Double(replies.filter { $0.generator == name }.count)
            #expect(abs(observed - expected) <= 5 * deviation, "\(name): \(observed) served, \(expected) expected")
        }

        // The log holds the same propensities, and inverse-propensity counts estimate the number of requests.
        let log = try DecisionLog(readingFrom: harness.logPath)
        let records = try log.records()
        #expect(records.count == total)
        let byID = Dictionary(uniqueKeysWithValues: replies.map { ($0.id, $0) })
        for record in records {
            let reply = try #require(byID[record.requestID])
            #expect(record.chosenGenerator == reply.generator)
            #expect(record.explored == reply.explored)
            // The JSON answer and the log may differ in the last bit of the double's printing.
            #expect(abs((record.propensity ?? -1) - reply.propensity) < 1e-12)
        }
        for name in names {
            let weights = records.filter { $0.chosenGenerator == name }.compactMap(\.propensity).map { 1 / $0 }
            let estimate = weights.reduce(0, +)
            // Var(1[chosen = g] / p) = 1/p − 1 per request, p the probability of g for that request's rule pick.
            let variance = replies.map { 1 / ($0.rule == name ? ruleShare : otherShare) - 1 }.reduce(0, +)
            #expect(
                abs(estimate - Double(total)) <= 5 * variance.squareRoot(),
                "\(name): Σ 1/propensity = \(estimate), expected \(total)")
        }
    }

    @Test("forced models log no propensity; ε = 0 logs propensity 1 and never explores")
    func forcedAndDefault() async throws {
        try await harness.run { client, gateway in
            let name = gateway.generatorNames[1]
            let forced = try await client.postJSON(
                "/v1/images/generations", #"{"prompt": "a cat", "model": \#(jsonString(name))}"#)
            #expect(forced.status == .ok)
            #expect((forced.json["catimage"] as? [String: Any])?["propensity"] == nil)
            let routed = try await client.postJSON("/v1/images/generations", #"{"prompt": "a cat"}"#)
            let routing = try #require(routed.json["catimage"] as? [String: Any])
            #expect(routing["propensity"] as? Double == 1)
            #expect(routing["explored"] as? Bool == false)
            for _ in 0..<20 {
                let route = try await client.postJSON("/v1/route", #"{"prompt": "a dog"}"#)
                #expect(route.json["propensity"] as? Double == 1)
                #expect(route.json["generator"] as? String == route.json["rule_generator"] as? String)
            }
            let records = try #require(try await gateway.log?.records())
            #expect(records.count == 22)
            #expect(records[0].propensity == nil && !records[0].explored && records[0].lambdaSource == "forced")
            #expect(records.dropFirst().allSatisfy { $0.propensity == 1 && !$0.explored })
        }
    }

    @Test("an explored images request is generated by the explored generator, and the rule's pick falls back after it")
    func exploredImagesServeThePick() async throws {
        try await harness.run(customise: { $0.exploration = .init(rate: 1, seed: 3) }) { client, gateway in
            var explored = 0
            for index in 0..<12 {
                let reply = try await client.postJSON(
                    "/v1/images/generations", #"{"prompt": \#(jsonString(Self.prompts[index % 8])), "lambda": 0}"#)
                #expect(reply.status == .ok)
                let routing = try #require(reply.json["catimage"] as? [String: Any])
                let chosen = try #require(routing["chosen_generator"] as? String)
                #expect(reply.headers[HTTPField.Name("x-catimage-generator")!] == chosen)
                if routing["explored"] as? Bool == true { explored += 1 }
            }
            // ε = 1 with K live generators: each request is replaced with probability (K − 1)/K.
            #expect(explored > 0)
            let records = try #require(try await gateway.log?.records())
            #expect(records.filter(\.explored).count == explored)
            #expect(records.allSatisfy { $0.servedBy == $0.chosenGenerator })
        }
    }

    @Test("exploration.rate outside [0, 1] is a config error naming the key")
    func rateIsValidated() throws {
        for value in ["1.5", "-0.1", "abc"] {
            #expect {
                try GatewayConfig.parse(yaml: ConfigFixture.minimal + "\nexploration: {rate: \(value)}")
            } throws: { error in
                (error as? ConfigError)?.key == "exploration.rate"
            }
        }
        let config = try GatewayConfig.parse(yaml: ConfigFixture.minimal + "\nexploration: {rate: 0.1, seed: 9}")
        #expect(config.exploration == .init(rate: 0.1, seed: 9))
        #expect(try GatewayConfig.parse(yaml: ConfigFixture.minimal).exploration.rate == 0)
    }
}
