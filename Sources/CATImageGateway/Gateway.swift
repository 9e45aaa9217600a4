import AsyncHTTPClient
import CATImage
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The gateway's working parts: predictor threads, budget controller, backends, HTTP client, log and metrics.
///
/// The HTTP layer (``buildRouter(gateway:)``) only parses requests and renders responses; decisions and
/// generations happen here, so they can be driven without a socket too.
public final class Gateway: Sendable {
    /// How λ was picked for a decision.
    public enum LambdaSource: String, Sendable, Codable {
        /// The request's `lambda`.
        case request
        /// Solved for the request's `budget`.
        case budget
        /// The online budget controller's current λ.
        case controller
        /// The router's default λ (no budget configured).
        case `default`
    }

    /// A decision with its inputs and timing.
    ///
    /// `routing.generator` is the rule's best generator among those whose breaker lets traffic through;
    /// `routing.candidates` keeps every generator in rule order.
    public struct Decision: Sendable {
        public var routing: RoutingDecision
        /// Which generators were up (breaker closed or probing) when deciding, in the router's order.
        public var available: [Bool]
        /// Generators ranked above the chosen one that were skipped because their breaker was open.
        public var skipped: [String]
        /// True when every generator's breaker was open: `routing.generator` is then the rule's choice among all.
        public var noneAvailable: Bool
        /// Predicted qualities in the router's generator order.
        public var predicted: [Double]
        public var lambdaSource: LambdaSource
        public var seconds: Double
        /// The rule's pick among the live generators; `routing.generator` differs from it when exploration replaced it.
        public var ruleGenerator: String
        /// True when exploration replaced the rule's pick.
        public var explored: Bool
        /// Probability with which `routing.generator` was chosen (``Exploration/Pick/propensity``); `nil` when the
        /// decision was made without exploration (a forced model).
        public var propensity: Double?
        /// SHA-256 (hex) of the router file that predicted (``RouterSnapshot/digest``).
        public var routerDigest: String?
    }

    /// The outcome of an image request.
    public struct Generation: Sendable {
        public var decision: Decision
        /// The first-choice generator (forced or routed).
        public var chosenGenerator: String
        /// The generator that produced the images.
        public var servedBy: String
        public var images: [String]
        /// One line per failed attempt before success.
        public var attempts: [String]
        public var backend: String
    }

    public let config: GatewayConfig
    public let generatorNames: [String]
    public let costs: [Double]
    public let pool: PredictionPool
    public let budget: BudgetController
    public let backends: [String: ImageBackend]
    public let client: HTTPClient
    /// The decision log: SQLite (`log.path`) or the store given to ``init(config:predictor:store:environment:logger:)``.
    public let log: (any DecisionStore)?
    public let metrics = GatewayMetrics()
    /// Feedback, exploration, scoring and reload counters (issue 13).
    public let learningMetrics: LearningMetrics
    /// Per-generator circuit breakers.
    public let health: GeneratorHealth
    /// Admission control of `/v1/*`.
    public let admission: AdmissionControl
    public let logger: Logger
    /// The router in force (replaced by ``reloadRouter()``) and whether a reload is running.
    private let current: NIOLockedValueBox<RouterSnapshot>
    private let reloading = NIOLockedValueBox(false)
    let routerLoader: RouterLoader
    /// ε-exploration of routed requests (ε = 0 unless configured).
    public let exploration: Exploration
    /// Sampled scoring of served images (the `scoring:` section; needs the log).
    public let scoring: ScoringQueue?

    /// Checks that the config's generators are exactly the router's, then starts the predictor threads, opens the
    /// log and creates the HTTP client. Call ``shutdown()`` (the gateway's service does) to release them.
    ///
    /// - Parameter store: the decision store to write instead of the config's SQLite `log.path` (the PostgreSQL log,
    ///   opened by ``Gateway/open(config:predictor:environment:logger:)``).
    /// - Parameter breakerClock: the circuit breakers' clock in seconds (default: monotonic time since start).
    public init(
        config: GatewayConfig, predictor: any QualityPredictor, store: (any DecisionStore)? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "catimage.gateway"), routerLoader: RouterLoader? = nil,
        breakerClock: (@Sendable () -> Double)? = nil
    ) throws {
        let names = predictor.generatorNames
        let missing = names.filter { config.generators[$0] == nil }
        if !missing.isEmpty {
            throw ConfigError(
                file: config.file, key: "generators", value: missing.joined(separator: ", "),
                "the router's generators \(missing) have no backend (router generators: \(names.joined(separator: ", ")))"
            )
        }
        let unknown = config.generators.keys.filter { !names.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw ConfigError(
                file: config.file, key: "generators.\(unknown[0])", value: unknown.joined(separator: ", "),
                "not a generator of the router \(config.routerPath) (it has: \(names.joined(separator: ", ")))")
        }
        let costs = predictor.generatorCosts
        precondition(costs.count == names.count, "the predictor must give one cost per generator")
        self.config = config
        self.current = NIOLockedValueBox(
            RouterSnapshot(predictor: predictor, digest: Self.digest(ofFile: config.routerPath), generation: 0))
        self.routerLoader =
            routerLoader
            ?? Self.defaultRouterLoader(
                modelDirectory: config.modelDirectory, precision: config.inference.precision)
        self.generatorNames = names
        self.costs = costs
        self.logger = logger
        var backends: [String: ImageBackend] = [:]
        for (name, backend) in config.generators {
            backends[name] = ImageBackend(generator: name, config: backend, environment: environment)
        }
        self.backends = backends
        self.health = GeneratorHealth(generatorNames: names, settings: config.breaker, clock: breakerClock)
        self.admission = AdmissionControl(settings: config.admission)
        let initialLambda =
            config.budget.initialLambda ?? config.budget.targetMeanCost.flatMap { predictor.lambda(forBudget: $0) }
            ?? predictor.defaultLambda
        self.budget = BudgetController(costs: costs, settings: config.budget, initialLambda: initialLambda)
        let log: (any DecisionStore)? =
            try store ?? config.log.path.map { try DecisionLog(path: $0, synchronous: config.log.synchronous) }
        self.log = log
        let learningMetrics = LearningMetrics()
        self.learningMetrics = learningMetrics
        var clientConfiguration = HTTPClient.Configuration()
        let longest = config.generators.values.map(\.timeoutSeconds).max() ?? 60
        clientConfiguration.timeout = .init(
            connect: .milliseconds(Int64(min(longest, 10) * 1000)), read: .milliseconds(Int64(longest * 1000)))
        clientConfiguration.redirectConfiguration = .disallow
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        self.client = client
        if let settings = config.scoring, let log {
            scoring = ScoringQueue(
                settings: settings, scorer: ScorerClient(url: settings.url, client: client, logger: logger), log: log,
                metrics: learningMetrics, logger: logger)
        } else {
            scoring = nil
        }
        self.exploration = Exploration(rate: config.exploration.rate, seed: config.exploration.seed)
        self.pool = PredictionPool(
            predictor: predictor, threads: config.inference.threads, maxBatch: config.inference.maxBatch)
    }

    /// Stops the predictor threads and the HTTP client.
    public func shutdown() async throws {
        pool.shutdown()
        await log?.close()
        try await client.shutdown()
    }

    /// The router new requests decide with.
    public var router: RouterSnapshot { current.withLockedValue { $0 } }

    func beginReload() -> Bool {
        reloading.withLockedValue { busy in
            defer { busy = true }
            return !busy
        }
    }

    func endReload() { reloading.withLockedValue { $0 = false } }

    /// Makes `predictor` the router of new requests; returns the one it replaces.
    func install(_ predictor: any QualityPredictor, digest: String?) -> RouterSnapshot {
        current.withLockedValue { snapshot in
            defer {
                snapshot = RouterSnapshot(predictor: predictor, digest: digest, generation: snapshot.generation + 1)
            }
            return snapshot
        }
    }

    /// The λ a request gets: its own, one solved for its budget, the controller's, or the router's default.
    public func lambda(requested: Double?, budget requestBudget: Double?) throws(GatewayError) -> (Double, LambdaSource)
    {
        try lambda(requested: requested, budget: requestBudget, predictor: router.predictor)
    }

    func lambda(
        requested: Double?, budget requestBudget: Double?, predictor: any QualityPredictor
    ) throws(GatewayError) -> (Double, LambdaSource) {
        if let requested { return (requested, .request) }
        if let requestBudget {
            guard let value = budget.lambda(forBudget: requestBudget) ?? predictor.lambda(forBudget: requestBudget)
            else {
                throw GatewayError(
                    .serviceUnavailable, code: "budget_unavailable",
                    "no λ can be solved for a budget yet: the router has no calibration data and fewer than "
                        + "\(config.budget.warmup) prompts were seen")
            }
            return (value, .budget)
        }
        if config.budget.targetMeanCost != nil { return (budget.lambda, .controller) }
        return (predictor.defaultLambda, .default)
    }

    /// Embeds the prompt (on the predictor threads), picks λ and applies the rule; with `explore` (routed requests),
    /// exploration may then replace the rule's pick by a live generator drawn uniformly.
    public func decide(
        prompt: String, lambda requested: Double?, budget requestBudget: Double?, explore: Bool = true
    ) async throws -> Decision {
        let start = ContinuousClock.now
        // One router from prediction to λ: a reload meanwhile serves later requests.
        let snapshot = router
        let predicted: [Double]
        do {
            predicted = try await pool.predict(prompt, using: snapshot.predictor, generation: snapshot.generation)
        } catch {
            throw GatewayError(.serviceUnavailable, code: "shutting_down", "the gateway is shutting down")
        }
        let (lambda, source) = try self.lambda(
            requested: requested, budget: requestBudget, predictor: snapshot.predictor)
        var routing = RoutingDecision(generators: generatorNames, predicted: predicted, costs: costs, lambda: lambda)
        let available = health.availability()
        var skipped: [String] = []
        var noneAvailable = true
        // The rule's argmax over the generators that are up: walk the ranking past open breakers.
        for candidate in routing.candidates {
            guard let index = generatorNames.firstIndex(of: candidate.generator) else { continue }
            if available[index] {
                routing.generator = candidate.generator
                noneAvailable = false
                break
            }
            skipped.append(candidate.generator)
        }
        if noneAvailable { skipped = [] }
        let ruleGenerator = routing.generator
        var propensity: Double?
        var explored = false
        if explore {
            propensity = 1
            if !noneAvailable, let rule = generatorNames.firstIndex(of: ruleGenerator) {
                let pick = exploration.pick(rule: rule, eligible: available.indices.filter { available[$0] })
                propensity = pick.propensity
                if pick.explored {
                    explored = true
                    routing.generator = generatorNames[pick.index]
                    learningMetrics.recordExplored()
                }
            }
        }
        let seconds = (ContinuousClock.now - start).seconds
        return Decision(
            routing: routing, available: available, skipped: skipped, noneAvailable: noneAvailable,
            predicted: predicted, lambdaSource: source, seconds: seconds, ruleGenerator: ruleGenerator,
            explored: explored, propensity: propensity, routerDigest: snapshot.digest)
    }

    /// Feeds a decision to the budget controller and the metrics.
    ///
    /// The controller is given the cost of the generator the rule chose among those up, whatever served the request:
    /// fallbacks are an accident of the moment, and steering on them would push λ toward the generators that fail.
    /// An explored decision counts like any other: `routing.generator` is then the explored pick, whose real cost
    /// enters the controller's feedback, so the controller holds the budget with exploration's cost included.
    func observe(_ decision: Decision, endpoint: String) {
        let realised: Double? =
            decision.lambdaSource == .controller
            ? generatorNames.firstIndex(of: decision.routing.generator).map { costs[$0] } : nil
        budget.record(predicted: decision.predicted, realisedCost: realised, available: decision.available)
        metrics.recordDecision(generator: decision.routing.generator, endpoint: endpoint, seconds: decision.seconds)
        if !decision.skipped.isEmpty { metrics.recordSkipped(decision.skipped) }
    }

    /// Tries `order`'s generators in turn, each with its retries, until one produces images.
    public func generate(
        prompt: String, count: Int, size: ImageSize?, order: [String]
    ) async throws(GenerationFailure) -> (servedBy: String, images: [String], attempts: [String], backend: String) {
        var attempts: [String] = []
        for generator in order {
            guard let backend = backends[generator], let index = generatorNames.firstIndex(of: generator) else {
                continue
            }
            let tries = 1 + backend.config.retries
            for attempt in 1...tries {
                // Every attempt asks the breaker: one opened by this request's own failures stops its retries.
                let permit = health.permit(index)
                if permit == .rejected { break }
                let start = ContinuousClock.now
                do {
                    let images = try await backend.generate(
                        prompt: prompt, count: count, size: size, client: client,
                        maxResponseBytes: config.limits.maxBackendResponseBytes)
                    health.record(index, failure: nil, probe: permit == .probe)
                    metrics.recordBackend(
                        generator: generator, seconds: (ContinuousClock.now - start).seconds, error: nil)
                    return (generator, images, attempts, backend.label)
                } catch {
                    health.record(index, failure: error, probe: permit == .probe)
                    metrics.recordBackend(
                        generator: generator, seconds: (ContinuousClock.now - start).seconds,
                        error: error.reason.rawValue)
                    attempts.append("\(generator) attempt \(attempt)/\(tries) at \(backend.label): \(error)")
                    logger.warning(
                        "backend attempt failed",
                        metadata: ["generator": "\(generator)", "attempt": "\(attempt)", "error": "\(error)"])
                    // A failed probe re-opened the breaker: move on to the next generator at once.
                    if !error.isRetryable || permit == .probe { break }
                    if attempt < tries {
                        // A short, growing pause keeps retries from hammering a struggling server.
                        try? await Task.sleep(for: .milliseconds(50 * attempt))
                    }
                }
            }
        }
        throw GenerationFailure(attempts: attempts)
    }
}

/// Every generator tried failed.
public struct GenerationFailure: Error, Sendable {
    public var attempts: [String]
}

extension Duration {
    var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) * 1e-18
    }
}
