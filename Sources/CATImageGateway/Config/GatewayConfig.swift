import CATImageEncoder
import Foundation

/// Everything the gateway needs to run, read from a YAML file (see ``GatewayConfig/load(contentsOf:environment:)``).
///
/// Every setting has a default except the router file and the generators' backends.
public struct GatewayConfig: Sendable, Equatable {
    /// Where the HTTP server listens.
    public struct Listen: Sendable, Equatable {
        public var host = "127.0.0.1"
        public var port = 8080
        public init(host: String = "127.0.0.1", port: Int = 8080) {
            self.host = host
            self.port = port
        }
    }

    /// Limits on what a request may carry; requests beyond them get 400 or 413.
    public struct Limits: Sendable, Equatable {
        /// Longest prompt accepted, in characters.
        public var maxPromptCharacters = 4000
        /// Largest request body accepted, in bytes (413 beyond it).
        public var maxBodyBytes = 64 * 1024
        /// Largest `n` of an image request.
        public var maxImagesPerRequest = 4
        /// Largest backend response body read, in bytes.
        public var maxBackendResponseBytes = 64 * 1024 * 1024
        public init() {}
    }

    /// Bearer-token authentication of `/v1/*`; off when no token is configured.
    public struct Auth: Sendable, Equatable {
        /// Accepted tokens (from the file and from `tokensEnvironmentVariable`, comma-separated there).
        public var tokens: [String] = []
        public var tokensEnvironmentVariable: String?
        public var isEnabled: Bool { !tokens.isEmpty }
        public init(tokens: [String] = [], tokensEnvironmentVariable: String? = nil) {
            self.tokens = tokens
            self.tokensEnvironmentVariable = tokensEnvironmentVariable
        }
    }

    /// The online budget controller: hold a target mean cost by adjusting λ.
    public struct Budget: Sendable, Equatable {
        /// Target mean cost per routed request (in the router's cost unit); `nil` uses the router's default λ.
        public var targetMeanCost: Double?
        /// Number of recent prompts whose predictions the controller solves λ on.
        public var window = 256
        /// Decisions needed in the window before the controller replaces the starting λ.
        public var warmup = 16
        /// Number of recent realised costs the feedback term averages.
        public var feedbackHorizon = 1024
        /// How strongly the realised cost error shifts the window's budget (0 turns feedback off).
        public var feedbackGain = 1.0
        /// Starting λ; `nil` asks the router for λ at the target, else its default λ.
        public var initialLambda: Double?
        public init(targetMeanCost: Double? = nil) { self.targetMeanCost = targetMeanCost }
    }

    /// Threads that run prompt embedding and quality prediction, away from the event loops.
    public struct Inference: Sendable, Equatable {
        /// Dedicated OS threads running the predictor.
        public var threads = 1
        /// Most prompts one predictor call handles (prompts waiting together are batched).
        public var maxBatch = 32
        /// The encoder's arithmetic (`inference.precision`); `nil`: `$CATIMAGE_ENCODER_PRECISION`, else fp32.
        public var precision: MiniLM.Precision?
        public init(threads: Int = 1, maxBatch: Int = 32, precision: MiniLM.Precision? = nil) {
            self.threads = threads
            self.maxBatch = maxBatch
            self.precision = precision
        }
    }

    /// The SQLite decision log.
    public struct Log: Sendable, Equatable {
        /// SQLite synchronous mode (WAL): `normal` (default) keeps every committed row when the process is killed
        /// and commits without an fsync; `full` also survives power loss, at an fsync per group commit.
        public enum Synchronous: String, Sendable, Equatable, CaseIterable {
            case full, normal
        }
        /// Path of the database file; `nil` disables logging.
        public var path: String?
        public var synchronous = Synchronous.normal
        /// The PostgreSQL decision log a fleet of replicas shares, instead of `path` (GatewayConfig+Postgres.swift).
        public var postgres: Postgres?
        public init(path: String? = nil, synchronous: Synchronous = .normal) {
            self.path = path
            self.synchronous = synchronous
        }
    }

    /// How a request reaches one generator.
    public struct Backend: Sendable, Equatable {
        /// The protocol spoken to the backend.
        public enum Kind: Sendable, Equatable {
            /// OpenAI Images API: `POST {baseURL}/images/generations` (baseURL usually ends in `/v1`).
            case openAIImages(model: String, apiKeyEnvironmentVariable: String?)
            /// AUTOMATIC1111 web UI API: `POST {baseURL}/sdapi/v1/txt2img`.
            case a1111(A1111Parameters)
        }
        /// Generation settings sent to an AUTOMATIC1111 server.
        public struct A1111Parameters: Sendable, Equatable {
            public var steps = 20
            public var cfgScale = 7.0
            public var samplerName = "Euler a"
            public var width = 512
            public var height = 512
            public init() {}
        }
        public var kind: Kind
        public var baseURL: String
        /// Seconds one attempt may take, connection included.
        public var timeoutSeconds = 60.0
        /// Extra attempts after a timeout, refused connection, 429 or 5xx.
        public var retries = 1
        /// Requests `catimage collect` sends this backend's server at once (one GPU serves one job at a time).
        public var maxConcurrency = 1
        /// Image size `catimage collect` asks an OpenAI-style backend for (`serve` uses the request's size);
        /// `nil` leaves it to the backend.
        public var size: ImageSize?
        public init(kind: Kind, baseURL: String, timeoutSeconds: Double = 60, retries: Int = 1) {
            self.kind = kind
            self.baseURL = baseURL
            self.timeoutSeconds = timeoutSeconds
            self.retries = retries
        }
        /// The protocol's name as written in the config.
        public var kindName: String {
            switch kind {
            case .openAIImages: "openai-images"
            case .a1111: "a1111"
            }
        }
    }

    /// The file the config was read from (names it in errors).
    public var file = "<config>"
    public var listen = Listen()
    /// The router file written by `catimage train`.
    public var routerPath: String
    /// The sentence-encoder folder; `nil` lets the router find it.
    public var modelDirectory: String?
    public var limits = Limits()
    public var auth = Auth()
    public var budget = Budget()
    public var inference = Inference()
    public var log = Log()
    /// Circuit breakers, admission control and connection limits (GatewayConfig+Reliability.swift).
    public var breaker = Breaker()
    public var admission = Admission()
    public var connections = Connections()
    /// The learning loop (GatewayConfig+Learning.swift): exploration and sampled scoring (`nil`: off).
    public var exploration = ExplorationSettings()
    public var scoring: ScoringSettings?
    /// The admin endpoint (`POST /admin/reload`); off without a token.
    public var admin = AdminSettings()
    /// One backend per generator of the router, by generator name.
    public var generators: [String: Backend]

    public init(routerPath: String, generators: [String: Backend]) {
        self.routerPath = routerPath
        self.generators = generators
    }
}
