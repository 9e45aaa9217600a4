import ArgumentParser
import AsyncHTTPClient
import CATImageCore
import CATImageEncoder
import Foundation

/// `catimage bench encoder`: sentence-encoder throughput at batch sizes 1 and 64, and one prompt's latency.
struct BenchEncoderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encoder",
        abstract: "Prompts per second of the MiniLM encoder at batch size 1 and 64 over CEMS prompts.",
        discussion: """
            Encodes the first --prompts CEMS prompts (in dataset order) at batch size 1 (each worker thread runs \
            its own prompt) and at batch size 64, after a warm-up, and times one typical prompt (the first whose \
            token count is the median) alone. Build with `-c release` for meaningful figures, and note the load \
            average it prints: other processes on the machine slow it down. CATIMAGE_ENCODER_PRECISION=bf16 \
            measures the bfloat16 path.

            Examples:
              swift build -c release && .build/release/catimage bench encoder
              CATIMAGE_ENCODER_PRECISION=bf16 catimage bench encoder
              catimage bench encoder --prompts 500 --json
            """
    )

    @OptionGroup var modelFolder: ModelOptions

    @Option(help: "The CEMS folder (default: $CATIMAGE_DATASETS/cems or ../shared/datasets/cems).")
    var cems: String?

    @Option(help: "How many prompts, from the start of the dataset.")
    var prompts = 2000

    @Option(help: "Timed runs of the single typical prompt.")
    var latencyRuns = 200

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard prompts >= 1 else { throw ValidationError("--prompts must be at least 1, got \(prompts)") }
        guard latencyRuns >= 1 else { throw ValidationError("--latency-runs must be at least 1") }
    }

    struct Report: Encodable {
        let model: String
        /// The dense products' arithmetic (`$CATIMAGE_ENCODER_PRECISION`): fp32 or bf16.
        let precision: String
        let prompts: Int
        let meanTokens: Double
        let workers: Int
        let blasThreads: Int
        let batch1PromptsPerSecond: Double
        let batch64PromptsPerSecond: Double
        let typicalPrompt: String
        let typicalPromptTokens: Int
        let typicalLatencyMedianMilliseconds: Double
        let typicalLatencyMeanMilliseconds: Double
        let batch64GigaflopsPerSecond: Double
        let batch1PromptsPerCPUSecond: Double
        let batch64PromptsPerCPUSecond: Double
        let blasCoreType: String
        let loadAverageBefore: String
        let loadAverageAfter: String
    }

    func run() throws {
        let folder = cems ?? (DatasetLocation.directory() as NSString).appendingPathComponent("cems")
        var loadReport = DatasetLoadReport()
        let dataset = try RoutingDataset.loadCEMS(directory: folder, metric: "clip", report: &loadReport)
        let texts = Array(dataset.prompts.prefix(prompts).map(\.text))
        let encoder = try SentenceEncoder(directory: modelFolder.resolvedDirectory)
        let lengths = texts.map { encoder.tokenize($0).count }
        let meanTokens = Double(lengths.reduce(0, +)) / Double(texts.count)
        let loadBefore = Self.loadAverage()

        _ = encoder.encode(Array(texts.prefix(128)), batchSize: 64)  // warm-up: page in weights, grow workspaces
        let cpuStart1 = Self.cpuSeconds()
        let batch1 = Self.time { _ = encoder.encode(texts, batchSize: 1) }
        let cpu1 = Self.cpuSeconds() - cpuStart1
        let cpuStart64 = Self.cpuSeconds()
        let batch64 = Self.time { _ = encoder.encode(texts, batchSize: 64) }
        let cpu64 = Self.cpuSeconds() - cpuStart64

        let median = lengths.sorted()[lengths.count / 2]
        let typical = texts[lengths.firstIndex(of: median) ?? 0]
        _ = encoder.encode(typical)
        var latencies: [Double] = []
        for _ in 0..<latencyRuns { latencies.append(Self.time { _ = encoder.encode(typical) }) }
        latencies.sort()
        let loadAfter = Self.loadAverage()

        // FLOPs per token of the dense layers: 2 · (4H² + 2HI) per layer (attention scores are extra, small here).
        let configuration = encoder.configuration
        let h = Double(configuration.hiddenSize)
        let flopsPerToken =
            2 * (4 * h * h + 2 * h * Double(configuration.intermediateSize)) * Double(configuration.layerCount)
        let report = Report(
            model: encoder.modelIdentifier, precision: encoder.precision.rawValue, prompts: texts.count,
            meanTokens: meanTokens,
            workers: Parallel.defaultWorkerCount, blasThreads: BLAS.threadCount,
            batch1PromptsPerSecond: Double(texts.count) / batch1,
            batch64PromptsPerSecond: Double(texts.count) / batch64, typicalPrompt: typical,
            typicalPromptTokens: median, typicalLatencyMedianMilliseconds: latencies[latencies.count / 2] * 1000,
            typicalLatencyMeanMilliseconds: latencies.reduce(0, +) / Double(latencies.count) * 1000,
            batch64GigaflopsPerSecond: flopsPerToken * meanTokens * Double(texts.count) / batch64 / 1e9,
            batch1PromptsPerCPUSecond: Double(texts.count) / cpu1,
            batch64PromptsPerCPUSecond: Double(texts.count) / cpu64,
            blasCoreType: BLASKernels.loaded,
            loadAverageBefore: loadBefore, loadAverageAfter: loadAfter)
        if json {
            try JSONOutput.print(report)
            return
        }
        print(
            "\(Terminal.bold("Encoder benchmark")) \(report.model) (\(report.precision)), \(report.prompts) CEMS prompts"
        )
        print("  mean tokens per prompt ([CLS]/[SEP] included): \(Format.fixed(meanTokens, 1))")
        print(
            "  worker threads: \(report.workers), BLAS threads per call: \(report.blasThreads), "
                + "OpenBLAS kernels: \(report.blasCoreType)")
        var table = TextTable(["measure", "value"])
        table.add(["batch size 1", "\(Format.fixed(report.batch1PromptsPerSecond, 1)) prompts/s"])
        table.add(["batch size 64", "\(Format.fixed(report.batch64PromptsPerSecond, 1)) prompts/s"])
        table.add(["batch size 1, per CPU second", "\(Format.fixed(report.batch1PromptsPerCPUSecond, 1)) prompts"])
        table.add(["batch size 64, per CPU second", "\(Format.fixed(report.batch64PromptsPerCPUSecond, 1)) prompts"])
        table.add(["batch 64 arithmetic", "\(Format.fixed(report.batch64GigaflopsPerSecond, 1)) GFLOP/s"])
        table.add([
            "one typical prompt (\(median) tokens)",
            "\(Format.fixed(report.typicalLatencyMedianMilliseconds, 2)) ms median, "
                + "\(Format.fixed(report.typicalLatencyMeanMilliseconds, 2)) ms mean",
        ])
        print(table.render())
        print("  typical prompt: \(typical.debugDescription)")
        print("  load average before: \(loadBefore), after: \(loadAfter)")
    }

    /// Seconds taken by `body`.
    static func time(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// User plus system CPU seconds of this process so far (all threads).
    static func cpuSeconds() -> Double {
        var usage = rusage()
        let currentProcess: Int32 = 0  // RUSAGE_SELF on Linux and Darwin (imported as an enum on Glibc).
        getrusage(currentProcess, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// The 1, 5 and 15-minute load averages (Linux `/proc/loadavg`), or "unknown".
    static func loadAverage() -> String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "unknown" }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }
}
