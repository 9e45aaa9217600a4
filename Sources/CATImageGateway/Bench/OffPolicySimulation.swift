import AsyncHTTPClient
import CATImage
import CATImageCore
import Foundation
import Logging
import NIOCore

/// The off-policy evaluation checked where the truth is known: CEMS prompts replayed through a real gateway with
/// exploration on, stand-in generators over real HTTP, and each served image's "quality" the dataset's true score
/// for (prompt, generator), posted back through `POST /v1/feedback` by the driver (as an external judge would).
///
/// A deployed router, trained on a training split, serves the replay prompts with exploration rate ε; a second
/// (candidate) router is then evaluated off-policy on the decision log, and its estimates are set beside its true
/// mean quality on the same prompts, computed directly from the dataset.
public enum OffPolicySimulation {
    /// One router of the simulation: an estimator and how its λ is chosen.
    public struct Policy: Sendable, Equatable, CustomStringConvertible {
        public var estimator: EstimatorSpec
        public var lambda: RouterTrainer.LambdaRequest

        public init(estimator: EstimatorSpec, lambda: RouterTrainer.LambdaRequest) {
            self.estimator = estimator
            self.lambda = lambda
        }

        public var description: String {
            switch lambda {
            case .fixed(let value): return "\(estimator) at λ = \(value)"
            case .budget(let value): return "\(estimator) at budget \(value)"
            case .targetQuality(let value): return "\(estimator) at target quality \(value)"
            }
        }
    }

    /// Who scores the served images.
    public enum FeedbackSource: String, Sendable, Codable, CaseIterable {
        /// The driver posts each image's true score to `POST /v1/feedback`, as an external judge would.
        case judge
        /// The gateway's `scoring:` section (sample rate 1) sends every served image to a stand-in scorer, which
        /// reads the generator from the image and looks the true score up.
        case scorer
    }

    public struct Options: Sendable {
        public var feedback = FeedbackSource.judge
        public var trainingPrompts = 2000
        public var replayPrompts = 2000
        public var epsilon = 0.1
        public var confidence = 0.95
        public var seed: UInt64 = 13
        /// The router the gateway serves.
        public var deployed = Policy(estimator: .knn(k: 25, weighted: true), lambda: .budget(0.4))
        /// The router evaluated off-policy.
        public var candidate = Policy(estimator: .ridge(alpha: 10), lambda: .fixed(0))
        /// Requests in flight at once.
        public var concurrency = 8

        public init() {}
    }

    /// What the simulation found.
    public struct Result: Sendable, Codable {
        public var prompts: Int
        public var epsilon: Double
        /// Who scored the served images (``FeedbackSource``).
        public var feedback: FeedbackSource
        /// The deployed and candidate routers (estimator and λ choice).
        public var deployed: String
        public var candidate: String
        /// The deployed rule's true mean quality on the replay prompts without exploration.
        public var deployedRuleTruth: Double
        /// The candidate's true mean quality on the usable rows' prompts (from the dataset).
        public var candidateTruth: Double
        public var report: OffPolicyReport
        public var ipsCovers: Bool
        public var snipsCovers: Bool
        public var drCovers: Bool
        /// Seconds spent replaying through the gateway.
        public var replaySeconds: Double
    }

    /// Runs the simulation on `dataset` (CEMS) with `encoder` (MiniLM); `directory` receives the gateway's log
    /// (`decisions.sqlite`) and both router files (`deployed.catimage`, `candidate.catimage`).
    public static func run(
        dataset: RoutingDataset, encoder: any PromptEncoder, options: Options, directory: String,
        logger: Logger = Logger(label: "catimage.bench.ope")
    ) async throws -> Result {
        guard options.trainingPrompts + options.replayPrompts <= dataset.promptCount else {
            throw SimulationError(
                "\(options.trainingPrompts) training + \(options.replayPrompts) replay prompts exceed the dataset's "
                    + "\(dataset.promptCount)")
        }
        var random = SeededGenerator(seed: options.seed)
        var order = Array(0..<dataset.promptCount)
        order.shuffle(using: &random)
        let training = dataset.subset(Array(order.prefix(options.trainingPrompts)))
        let replay = Array(order.dropFirst(options.trainingPrompts).prefix(options.replayPrompts))
        // Embedding and training take seconds of CPU: off the cooperative pool, which the gateway needs next.
        let (deployed, candidate) = try await onOwnThread(name: "catimage-bench-ope-train") {
            let reads = options.deployed.estimator.reads.union(options.candidate.estimator.reads).union(.features)
            let input = encoder.input(for: training.prompts.map(\.text), reads: reads)
            func train(_ policy: Policy) throws -> Router {
                try RouterTrainer.train(
                    dataset: training, features: input.features, layerMeans: input.allLayerMeans, encoder: encoder,
                    estimator: policy.estimator,
                    lambda: policy.lambda, calibrationFolds: 5, seed: options.seed)
            }
            return (try train(options.deployed), try train(options.candidate))
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let routerPath = (directory as NSString).appendingPathComponent("deployed.catimage")
        try deployed.write(to: routerPath)
        try candidate.write(to: (directory as NSString).appendingPathComponent("candidate.catimage"))
        let logPath = (directory as NSString).appendingPathComponent("decisions.sqlite")
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: logPath + suffix) }

        let started = Date()
        let posted = try await replayThroughGateway(
            dataset: dataset, prompts: replay, deployed: deployed, routerPath: routerPath, logPath: logPath,
            options: options, logger: logger)
        let replaySeconds = Date().timeIntervalSince(started)
        logger.info("replayed", metadata: ["requests": "\(posted.count)", "seconds": "\(replaySeconds)"])

        let log = try DecisionLog(readingFrom: logPath)
        let report = try OffPolicyEvaluation.evaluate(
            decisions: try log.records(), feedback: try log.feedback(), candidate: candidate,
            options: .init(metric: dataset.metric, confidence: options.confidence, seed: options.seed),
            logger: logger)
        // The truth: the candidate's picks scored by the dataset, on the prompts of the usable rows (every replayed
        // request when none failed).
        let usable = replay.filter { posted[$0] != nil }
        let texts = usable.map { dataset.prompts[$0].text }
        let names = dataset.generatorNames
        func truth(_ router: Router, lambda: Double?) -> Double {
            let decisions = router.decide(prompts: texts, lambda: lambda)
            let total = zip(usable, decisions).reduce(0.0) { sum, pair in
                sum
                    + (names.firstIndex(of: pair.1.generator).map { dataset.quality(prompt: pair.0, generator: $0) }
                        ?? .nan)
            }
            return total / Double(usable.count)
        }
        let candidateTruth = truth(candidate, lambda: report.candidate.lambda)
        return Result(
            prompts: usable.count, epsilon: options.epsilon, feedback: options.feedback,
            deployed: options.deployed.description,
            candidate: options.candidate.description,
            deployedRuleTruth: truth(deployed, lambda: nil), candidateTruth: candidateTruth, report: report,
            ipsCovers: report.candidate.ips.contains(candidateTruth),
            snipsCovers: report.candidate.snips?.contains(candidateTruth) ?? false,
            drCovers: report.candidate.dr.contains(candidateTruth), replaySeconds: replaySeconds)
    }

    /// Serves `prompts` through a gateway over the stand-in server and posts each image's true score as feedback;
    /// returns the served generator per replayed dataset index (only requests that succeeded).
    static func replayThroughGateway(
        dataset: RoutingDataset, prompts: [Int], deployed: Router, routerPath: String, logPath: String,
        options: Options, logger: Logger
    ) async throws -> [Int: String] {
        var indexOfText: [String: Int] = [:]
        for index in prompts where indexOfText[dataset.prompts[index].text] == nil {
            indexOfText[dataset.prompts[index].text] = index
        }
        let names = dataset.generatorNames
        let table = indexOfText
        @Sendable func trueScore(prompt: String, generator: String) -> Double? {
            guard let index = table[prompt], let column = names.firstIndex(of: generator) else { return nil }
            return dataset.quality(prompt: index, generator: column)
        }
        let lookup: (@Sendable (String, String) -> Double?)? = options.feedback == .scorer ? trueScore : nil
        return try await StandInImageServer.run(lookup: lookup) { standInPort in
            var generators: [String: GatewayConfig.Backend] = [:]
            for name in deployed.generators.map(\.name) {
                var backend = GatewayConfig.Backend(
                    kind: .openAIImages(model: name, apiKeyEnvironmentVariable: nil),
                    baseURL: "http://127.0.0.1:\(standInPort)/v1", timeoutSeconds: 30, retries: 0)
                backend.maxConcurrency = options.concurrency
                generators[name] = backend
            }
            var config = GatewayConfig(routerPath: routerPath, generators: generators)
            config.listen = .init(host: "127.0.0.1", port: 0)
            config.log = .init(path: logPath, synchronous: .normal)
            config.exploration.rate = options.epsilon
            config.exploration.seed = options.seed
            if options.feedback == .scorer {
                var scoring = GatewayConfig.ScoringSettings(
                    url: "http://127.0.0.1:\(standInPort)/score", metric: dataset.metric)
                scoring.sampleRate = 1
                scoring.concurrency = 4
                scoring.queueCapacity = prompts.count + 16  // none dropped: every served image is scored
                config.scoring = scoring
            }
            var gatewayLogger = logger
            // Cancelling the server at the end logs errors of its own; failed requests are counted, not logged.
            gatewayLogger.logLevel = .critical
            let gateway = try Gateway(config: config, predictor: deployed, environment: [:], logger: gatewayLogger)
            return try await withThrowingTaskGroup(of: Void.self) { group in
                let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
                let app = buildApplication(gateway: gateway) { port in
                    continuation.yield(port)
                    continuation.finish()
                }
                group.addTask { try await app.runService(gracefulShutdownSignals: []) }
                var iterator = ports.makeAsyncIterator()
                guard let port = await iterator.next(), port > 0 else {
                    group.cancelAll()
                    throw SimulationError("the gateway did not start")
                }
                defer { group.cancelAll() }
                let served = try await drive(
                    base: "http://127.0.0.1:\(port)", dataset: dataset, prompts: prompts,
                    concurrency: options.concurrency, postFeedback: options.feedback == .judge)
                if options.feedback == .scorer, let log = gateway.log {
                    // The scorer works off the request path: wait (bounded) until every served image is scored.
                    let deadline = Date().addingTimeInterval(300)
                    while try await log.feedback().count < served.count, Date() < deadline {
                        try await Task.sleep(for: .milliseconds(200))
                    }
                }
                return served
            }
        }
    }

    /// Sends every prompt with `model: "auto"`, `concurrency` at a time, and (with `postFeedback`) posts the
    /// dataset's score of the generator that served it to `/v1/feedback`.
    static func drive(
        base: String, dataset: RoutingDataset, prompts: [Int], concurrency: Int, postFeedback: Bool = true
    ) async throws -> [Int: String] {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let names = dataset.generatorNames
        let metric = dataset.metric
        @Sendable func post(_ path: String, _ object: [String: Any]) async throws -> HTTPClientResponse {
            var request = HTTPClientRequest(url: base + path)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object)))
            return try await client.execute(request, timeout: .seconds(60))
        }
        @Sendable func one(_ index: Int) async throws -> (Int, String?) {
            let response = try await post(
                "/v1/images/generations", ["prompt": dataset.prompts[index].text, "model": "auto"])
            _ = try await response.body.collect(upTo: 1 << 22)
            guard response.status == .ok, let served = response.headers.first(name: "x-catimage-generator"),
                let requestID = response.headers.first(name: "x-request-id"),
                let generator = names.firstIndex(of: served)
            else { return (index, nil) }
            guard postFeedback else { return (index, served) }
            let score = dataset.quality(prompt: index, generator: generator)
            let feedback = try await post(
                "/v1/feedback",
                ["request_id": requestID, "score": score, "metric": metric, "source": "judge"])
            _ = try await feedback.body.collect(upTo: 1 << 16)
            guard (200..<300).contains(Int(feedback.status.code)) else {
                throw SimulationError("POST /v1/feedback answered \(feedback.status.code) for \(requestID)")
            }
            return (index, served)
        }
        do {
            let served = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                var served: [Int: String] = [:]
                var next = 0
                while next < min(concurrency, prompts.count) {
                    let index = prompts[next]
                    group.addTask { try await one(index) }
                    next += 1
                }
                while let (index, generator) = try await group.next() {
                    if let generator { served[index] = generator }
                    if next < prompts.count {
                        let index = prompts[next]
                        group.addTask { try await one(index) }
                        next += 1
                    }
                }
                return served
            }
            try await client.shutdown()
            return served
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}
