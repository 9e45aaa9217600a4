import AsyncHTTPClient
import CATImageGateway
import Foundation
import Logging

/// Everything `catimage collect` is asked to do.
public struct CollectRequest: Sendable {
    /// The gateway config whose `generators:` section renders.
    public var configPath: String
    public var promptsPath: String
    /// CSV column holding the prompt text (`.csv` prompts files only; default `prompt`).
    public var promptColumn: String?
    public var samples: Int
    public var outputDirectory: String
    /// Names limiting the generators; `nil` renders with all of them.
    public var generators: [String]?
    public var costTablePath: String?
    /// Render failed cells again.
    public var retryFailed = false

    public init(configPath: String, promptsPath: String, samples: Int, outputDirectory: String) {
        self.configPath = configPath
        self.promptsPath = promptsPath
        self.samples = samples
        self.outputDirectory = outputDirectory
    }
}

/// A prepared `collect` run: inputs read and checked, the folder opened, the work planned.
public struct CollectSession: Sendable {
    public let collector: Collector
    public let prompts: PromptList
    public let plan: CollectPlan

    /// Reads the config, prompts and cost table, checks them, plans the work; with `dryRun` the folder is only
    /// read (not created or changed) when it exists.
    public static func prepare(
        _ request: CollectRequest, dryRun: Bool = false,
        environment: [String: String] =
            ProcessInfo.processInfo.environment,
        client: HTTPClient, logger: Logger
    ) throws(CollectionError) -> CollectSession {
        guard (1...1000).contains(request.samples) else {
            throw CollectionError(.invalidOption, value: "\(request.samples)", "samples must be between 1 and 1000")
        }
        let config: GatewayConfig
        do {
            config = try GatewayConfig.load(contentsOf: request.configPath, environment: environment)
        } catch {
            throw CollectionError(.invalidOption, file: request.configPath, "\(error)")
        }
        let generators = try GeneratorSet(config: config, only: request.generators)
        let prompts = try PromptList.load(contentsOf: request.promptsPath, column: request.promptColumn)
        let costTable = try request.costTablePath.map { path throws(CollectionError) in
            try CostTable.load(contentsOf: path, known: Set(generators.all.keys))
        }
        let store: CollectionStore
        var scratch: String?
        if dryRun {
            let exists = FileManager.default.fileExists(
                atPath: CollectionStore.databasePath(in: request.outputDirectory))
            store =
                exists
                ? try CollectionStore(existing: request.outputDirectory)
                : try CollectionStore.scratch()
            scratch = exists ? nil : store.directory
            if exists, let digest = try store.meta("config_digest"), digest != generators.digest {
                throw CollectionError(
                    .configMismatch, file: request.outputDirectory, value: digest,
                    "this folder was collected with a different generators section; use another folder")
            }
        } else {
            store = try CollectionStore.openForCollecting(
                directory: request.outputDirectory, digest: generators.digest, canonicalJSON: generators.canonicalJSON)
            try store.addPrompts(prompts.prompts, source: request.promptsPath)
            try store.setMeta("samples", "\(request.samples)")
        }
        let collector = Collector(
            store: store, generators: generators, costTable: costTable, environment: environment, client: client,
            maxResponseBytes: config.limits.maxBackendResponseBytes, logger: logger)
        let plan = try collector.plan(
            prompts: prompts.prompts, samples: request.samples, retryFailed: request.retryFailed)
        // A dry run of a new folder planned against an empty scratch collection, which it no longer needs.
        if let scratch { try? FileManager.default.removeItem(atPath: scratch) }
        return CollectSession(collector: collector, prompts: prompts, plan: plan)
    }

    /// `--dry-run`'s estimate: per generator, the seconds of `probes` probe renders (not stored) and the time the
    /// plan would take, servers in parallel and each server's generators sharing its concurrency.
    public func estimate(probes: Int) async -> DryRunEstimate {
        var perGenerator: [String: Double] = [:]
        var failed: [String] = []
        for line in plan.lines {
            var times: [Double] = []
            for index in 0..<probes {
                let prompt = prompts.prompts[index % prompts.prompts.count].text
                if let seconds = await collector.probe(generator: line.generator, prompt: prompt) {
                    times.append(seconds)
                }
            }
            if times.isEmpty {
                failed.append(line.generator)
            } else {
                perGenerator[line.generator] = times.reduce(0, +) / Double(times.count)
            }
        }
        var total = 0.0
        for server in collector.generators.servers {
            let work = server.generators.reduce(0.0) { sum, name in
                let toDo = plan.lines.first { $0.generator == name }?.toDo ?? 0
                return sum + Double(toDo) * (perGenerator[name] ?? 0)
            }
            total = max(total, work / Double(server.maxConcurrency))
        }
        return DryRunEstimate(secondsPerImage: perGenerator, unreachable: failed, totalSeconds: total)
    }
}

/// What `--dry-run` measured.
public struct DryRunEstimate: Sendable, Codable {
    /// Mean seconds of a probe render, per generator that answered.
    public var secondsPerImage: [String: Double]
    /// Generators whose probes all failed (not counted in the total).
    public var unreachable: [String]
    /// Estimated wall time of the plan.
    public var totalSeconds: Double
}

extension CollectionStore {
    /// An empty collection in a temporary folder, for planning a dry run of a folder that does not exist yet.
    static func scratch() throws(CollectionError) -> CollectionStore {
        let directory = (NSTemporaryDirectory() as NSString).appendingPathComponent(
            "catimage-dry-run-\(UUID().uuidString)")
        return try openForCollecting(directory: directory, digest: "", canonicalJSON: "{}")
    }
}
