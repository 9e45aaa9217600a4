import AsyncHTTPClient
import CATImageEncoder
import CATImageGateway
import Foundation
import Logging
import Synchronization

/// One render to do: a prompt, a generator, a sample and the seed recorded with it.
public struct RenderJob: Sendable, Equatable {
    public var key: RenderKey
    public var prompt: String
    public var seed: Int
}

/// What a run has to do, per generator.
public struct CollectPlan: Sendable {
    /// Per generator (sorted by name): cells in all, already done, failed (kept unless retrying), to do now.
    public struct Line: Sendable, Equatable, Codable {
        public var generator: String
        public var cells: Int
        public var done: Int
        public var failed: Int
        public var toDo: Int
    }

    public var prompts: Int
    public var samples: Int
    public var lines: [Line]
    /// The renders to do, in the order they are handed out.
    public var jobs: [RenderJob]
}

/// Per-generator counts while a run goes on.
public struct CollectProgress: Sendable {
    public struct Generator: Sendable {
        public var name: String
        public var toDo: Int
        public var done = 0
        public var failed = 0
    }
    public var generators: [Generator]
    /// Seconds since the run started.
    public var elapsed: Double

    public var toDo: Int { generators.reduce(0) { $0 + $1.toDo } }
    public var finished: Int { generators.reduce(0) { $0 + $1.done + $1.failed } }
}

/// One render that failed in a run, with every attempt's reason.
public struct RenderFailure: Sendable, Equatable, Codable {
    public var key: RenderKey
    public var error: String
}

/// What a run did.
public struct CollectRunResult: Sendable {
    public var done: [String: Int]
    public var failed: [RenderFailure]
    public var seconds: Double
}

/// Renders prompts with the gateway's backends into a collection folder, resumably.
public struct Collector: Sendable {
    public let store: CollectionStore
    public let generators: GeneratorSet
    public let costTable: CostTable?
    let backends: [String: ImageBackend]
    let client: HTTPClient
    let maxResponseBytes: Int
    let logger: Logger

    /// - Parameters:
    ///   - environment: where an OpenAI backend's API key variable is read.
    ///   - client: the HTTP client requests go through (the caller shuts it down).
    public init(
        store: CollectionStore, generators: GeneratorSet, costTable: CostTable? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment, client: HTTPClient,
        maxResponseBytes: Int = 64 << 20, logger: Logger
    ) {
        self.store = store
        self.generators = generators
        self.costTable = costTable
        var backends: [String: ImageBackend] = [:]
        for name in generators.selected {
            if let config = generators.all[name] {
                backends[name] = ImageBackend(generator: name, config: config, environment: environment)
            }
        }
        self.backends = backends
        self.client = client
        self.maxResponseBytes = maxResponseBytes
        self.logger = logger
    }

    /// The seed recorded with a render: A1111 gets a seed derived from the prompt id and the sample (so a rerun
    /// reproduces the image and prompts do not share noise); OpenAI-style backends, which take no seed, record
    /// the sample index.
    public static func seed(for key: RenderKey, backend: GatewayConfig.Backend) -> Int {
        switch backend.kind {
        case .openAIImages: return key.sample
        case .a1111:
            let digest = SHA256.hexDigest(of: Data("\(key.promptID)\n\(key.sample)".utf8))
            return Int(UInt32(digest.prefix(8), radix: 16) ?? 0) & 0x7FFF_FFFF
        }
    }

    /// The renders missing from the collection for these prompts and samples (failed ones too when retrying),
    /// interleaved across generators so that each advances evenly.
    public func plan(prompts: [CollectionPrompt], samples: Int, retryFailed: Bool) throws(CollectionError)
        -> CollectPlan
    {
        let stored = Dictionary(
            try store.renders(generators: Set(generators.selected)).map { ($0.key, $0.isDone) },
            uniquingKeysWith: { first, _ in first })
        var lines: [CollectPlan.Line] = []
        var perGenerator: [[RenderJob]] = []
        for name in generators.selected {
            guard let backend = generators.all[name] else { continue }
            var line = CollectPlan.Line(generator: name, cells: prompts.count * samples, done: 0, failed: 0, toDo: 0)
            var jobs: [RenderJob] = []
            for sample in 0..<samples {
                for prompt in prompts {
                    let key = RenderKey(promptID: prompt.id, generator: name, sample: sample)
                    switch stored[key] {
                    case true?:
                        line.done += 1
                        continue
                    case false?:
                        line.failed += 1
                        if !retryFailed { continue }
                    case nil:
                        break
                    }
                    jobs.append(RenderJob(key: key, prompt: prompt.text, seed: Self.seed(for: key, backend: backend)))
                }
            }
            line.toDo = jobs.count
            lines.append(line)
            perGenerator.append(jobs)
        }
        var jobs: [RenderJob] = []
        let longest = perGenerator.map(\.count).max() ?? 0
        for index in 0..<longest {
            for list in perGenerator where index < list.count { jobs.append(list[index]) }
        }
        return CollectPlan(prompts: prompts.count, samples: samples, lines: lines, jobs: jobs)
    }

    /// Renders every job of `plan`: each server with up to its `max_concurrency` requests at once, all servers at
    /// once. A failing backend never stops the others; a storage failure stops the run (nothing committed is lost).
    ///
    /// - Parameter progress: called after every finished render (from worker tasks).
    public func run(
        _ plan: CollectPlan, progress: (@Sendable (CollectProgress) -> Void)? = nil
    ) async throws(CollectionError) -> CollectRunResult {
        let start = ContinuousClock.now
        let state = Locked(
            (
                progress: CollectProgress(
                    generators: plan.lines.map { CollectProgress.Generator(name: $0.generator, toDo: $0.toDo) },
                    elapsed: 0),
                failures: [RenderFailure]()
            ))
        let servers = generators.servers
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for server in servers {
                    let members = Set(server.generators)
                    let queue = JobQueue(plan.jobs.filter { members.contains($0.key.generator) })
                    for _ in 0..<server.maxConcurrency {
                        group.addTask {
                            while let job = queue.next() {
                                guard let outcome = try await self.render(job) else { return }
                                let snapshot = state.withLock { state -> CollectProgress in
                                    if let index = state.progress.generators.firstIndex(where: {
                                        $0.name == job.key.generator
                                    }) {
                                        switch outcome {
                                        case .done: state.progress.generators[index].done += 1
                                        case .failed(let error):
                                            state.progress.generators[index].failed += 1
                                            state.failures.append(RenderFailure(key: job.key, error: error))
                                        }
                                    }
                                    state.progress.elapsed = (ContinuousClock.now - start).seconds
                                    return state.progress
                                }
                                progress?(snapshot)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        } catch let error as CollectionError {
            throw error
        } catch {
            throw CollectionError(.storage, file: store.directory, "the run stopped: \(error)")
        }
        return state.withLock { state in
            CollectRunResult(
                done: Dictionary(uniqueKeysWithValues: state.progress.generators.map { ($0.name, $0.done) }),
                failed: state.failures, seconds: (ContinuousClock.now - start).seconds)
        }
    }

    /// Renders one job with its generator's retry policy and commits the outcome; `nil` when cancelled (nothing
    /// recorded, so the render is done again next time).
    func render(_ job: RenderJob) async throws(CollectionError) -> CollectionStore.Outcome? {
        guard let backend = backends[job.key.generator] else { return nil }
        let tries = 1 + backend.config.retries
        var reasons: [String] = []
        var attempts = 0
        for attempt in 1...tries {
            if Task.isCancelled { return nil }
            attempts = attempt
            let began = ContinuousClock.now
            let result: Result<ImageBackend.Rendered, BackendFailure>
            do {
                result = .success(
                    try await backend.render(
                        prompt: job.prompt, count: 1, size: backend.config.size,
                        seed: isA1111(backend) ? job.seed : nil,
                        client: client, maxResponseBytes: maxResponseBytes))
            } catch {
                result = .failure(error)
            }
            // Microseconds are all a wall clock at the client can tell apart.
            let seconds = ((ContinuousClock.now - began).seconds * 1e6).rounded() / 1e6
            if Task.isCancelled { return nil }
            switch result {
            case .success(let rendered):
                guard let base64 = rendered.images.first, let bytes = Data(base64Encoded: base64) else {
                    reasons.append("attempt \(attempt): no image in the answer")
                    continue
                }
                let hash = try store.storeImage(bytes)
                let size = PNGHeader.size(of: bytes)
                let outcome = CollectionStore.Outcome.done(
                    imageHash: hash, width: size?.width, height: size?.height,
                    cost: costTable?.costs[job.key.generator] ?? seconds, backendSeconds: rendered.backendSeconds)
                try await store.record(job.key, seed: job.seed, outcome: outcome, attempts: attempts)
                return outcome
            case .failure(let failure):
                reasons.append("attempt \(attempt): \(failure)")
                logger.debug(
                    "render attempt failed",
                    metadata: [
                        "generator": "\(job.key.generator)", "prompt": "\(job.key.promptID)", "error": "\(failure)",
                    ])
                if failure.isRetryable, attempt < tries {
                    // The gateway's pause: short and growing, so retries do not hammer a struggling server.
                    try? await Task.sleep(for: .milliseconds(50 * attempt))
                }
            }
            if case .failure(let failure) = result, !failure.isRetryable { break }  // e.g. 400 or not a PNG
        }
        let outcome = CollectionStore.Outcome.failed(error: "\(backend.label): " + reasons.joined(separator: "; "))
        try await store.record(job.key, seed: job.seed, outcome: outcome, attempts: attempts)
        return outcome
    }

    private func isA1111(_ backend: ImageBackend) -> Bool {
        if case .a1111 = backend.config.kind { return true }
        return false
    }

    /// Times one render of `prompt` with `generator` (not stored), for `--dry-run`'s estimate; `nil` when it failed.
    public func probe(generator: String, prompt: String) async -> Double? {
        guard let backend = backends[generator] else { return nil }
        let began = ContinuousClock.now
        do {
            _ = try await backend.render(
                prompt: prompt, count: 1, size: backend.config.size, seed: isA1111(backend) ? 0 : nil, client: client,
                maxResponseBytes: maxResponseBytes)
        } catch {
            logger.warning("probe render failed", metadata: ["generator": "\(generator)", "error": "\(error)"])
            return nil
        }
        return (ContinuousClock.now - began).seconds
    }
}

/// Hands out a server's jobs to its workers.
final class JobQueue: Sendable {
    private let state: Mutex<(jobs: [RenderJob], next: Int)>

    init(_ jobs: [RenderJob]) { state = Mutex((jobs, 0)) }

    func next() -> RenderJob? {
        state.withLock { state in
            guard state.next < state.jobs.count else { return nil }
            defer { state.next += 1 }
            return state.jobs[state.next]
        }
    }
}

/// The size written in a PNG's IHDR chunk.
enum PNGHeader {
    static func size(of bytes: Data) -> (width: Int, height: Int)? {
        let header = [UInt8](bytes.prefix(24))
        guard header.count == 24, header[12..<16].elementsEqual(Array("IHDR".utf8)) else { return nil }
        let width = header[16..<20].reduce(0) { $0 << 8 | Int($1) }
        let height = header[20..<24].reduce(0) { $0 << 8 | Int($1) }
        return (width, height)
    }
}

extension Duration {
    var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) * 1e-18
    }
}
