import ArgumentParser
import AsyncHTTPClient
import CATImageCore
import CATImageGateway
import Foundation

/// `catimage bench gateway`: latency of a running gateway's `/v1/route` at fixed request rates.
struct BenchGatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Latency percentiles of a running gateway's POST /v1/route at fixed request rates.",
        discussion: """
            Sends CEMS prompts (cycled) at each --rates value for --duration seconds, open loop: latency is \
            measured from when each request was due, so queueing shows (as wrk2 does). Start the gateway first, \
            from a release build, and note the load average it prints.

            Examples:
              .build/release/catimage serve --config gateway.yaml &
              .build/release/catimage bench gateway --url http://127.0.0.1:8080 --rates 50,100,150,200 --duration 10
            """
    )

    @Option(help: "The gateway's base URL.")
    var url = "http://127.0.0.1:8080"

    @Option(help: "Comma-separated request rates (per second).")
    var rates = "50,100,150,200"

    @Option(help: "Seconds per rate.")
    var duration = 10.0

    @Option(help: "The CEMS folder (default: $CATIMAGE_DATASETS/cems or ../shared/datasets/cems).")
    var cems: String?

    @Option(help: "Bearer token, when the gateway has auth on.")
    var token: String?

    @Option(help: "Seconds of warm-up at half the first rate before measuring (connections, page faults, caches).")
    var warmup = 5.0

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard duration > 0 else { throw ValidationError("--duration must be positive") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be ≥ 0") }
        guard !parsedRates.isEmpty, parsedRates.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--rates must be positive numbers separated by commas, got '\(rates)'")
        }
    }

    var parsedRates: [Double] {
        rates.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
    }

    struct Report: Encodable {
        let url: String
        let loadAverage: String
        let runs: [FixedRateLoad.Result]
    }

    func run() async throws {
        let folder = cems ?? (DatasetLocation.directory() as NSString).appendingPathComponent("cems")
        var loadReport = DatasetLoadReport()
        let dataset = try RoutingDataset.loadCEMS(directory: folder, metric: "clip", report: &loadReport)
        let bodies = dataset.prompts.prefix(5000).map { prompt -> String in
            let data = (try? JSONSerialization.data(withJSONObject: ["prompt": prompt.text])) ?? Data("{}".utf8)
            return String(decoding: data, as: UTF8.self)
        }
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let headers = token.map { [("Authorization", "Bearer \($0)")] } ?? []
        var results: [FixedRateLoad.Result] = []
        let target = url.hasSuffix("/") ? String(url.dropLast()) : url
        // A warm-up opens connections, faults in the model's pages and starts the server's threads, so the runs
        // measure the steady state.
        if warmup > 0 {
            _ = await FixedRateLoad.run(
                url: target + "/v1/route", bodies: bodies, rate: max(10, parsedRates[0] / 2), seconds: warmup,
                headers: headers, client: client)
        }
        for rate in parsedRates {
            results.append(
                await FixedRateLoad.run(
                    url: target + "/v1/route", bodies: bodies, rate: rate, seconds: duration, headers: headers,
                    client: client))
        }
        try await client.shutdown()
        let load =
            (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?
            .split(separator: " ").prefix(3).joined(separator: " ") ?? "unknown"
        if json {
            try JSONOutput.print(Report(url: url, loadAverage: load, runs: results))
            return
        }
        var table = TextTable([
            "rate (req/s)", "achieved", "ok", "errors", "p50 (ms)", "p90 (ms)", "p99 (ms)", "max (ms)",
        ])
        for result in results {
            table.add([
                Format.fixed(result.targetRate, 0), Format.fixed(result.achievedRate, 1), "\(result.ok)",
                "\(result.errors)", Format.fixed(result.p50Milliseconds, 2), Format.fixed(result.p90Milliseconds, 2),
                Format.fixed(result.p99Milliseconds, 2), Format.fixed(result.maxMilliseconds, 2),
            ])
        }
        print(table.render())
        print("load average: \(load)")
    }
}
