import ArgumentParser
import CATImageGateway
import Foundation

/// `catimage log summary`: counts by endpoint, status and generator.
struct LogSummaryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Count the decision log's rows by endpoint, status and generator, with mean latency and cost.",
        discussion: """
            Example:
              catimage log summary --db decisions.sqlite --json
              catimage log summary --config gateway.yaml        # SQLite or PostgreSQL, as the config says
            """
    )

    @OptionGroup var store: LogStoreOptions

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    struct Line: Encodable {
        var endpoint: String
        var status: Int
        var generator: String
        var rows: Int
        var meanLatencyMs: Double
        var meanCost: Double?
    }

    func run() async throws {
        let log = try await store.open()
        let records = try await log.records()
        await log.close()
        var groups: [String: [DecisionRecord]] = [:]
        for record in records {
            let key = "\(record.endpoint)\u{1}\(record.status)\u{1}\(record.servedBy ?? record.chosenGenerator)"
            groups[key, default: []].append(record)
        }
        let lines = groups.keys.sorted().map { key -> Line in
            let rows = groups[key] ?? []
            let parts = key.split(separator: "\u{1}", omittingEmptySubsequences: false).map(String.init)
            let costs = rows.compactMap(\.cost)
            return Line(
                endpoint: parts[0], status: Int(parts[1]) ?? 0, generator: parts[2], rows: rows.count,
                meanLatencyMs: rows.map(\.latencyMilliseconds).reduce(0, +) / Double(max(rows.count, 1)),
                meanCost: costs.isEmpty ? nil : costs.reduce(0, +) / Double(costs.count))
        }
        if json {
            try JSONOutput.print(lines)
            return
        }
        var table = TextTable(["endpoint", "status", "generator", "rows", "mean latency (ms)", "mean cost"])
        for line in lines {
            table.add([
                line.endpoint, "\(line.status)", line.generator, "\(line.rows)", Format.fixed(line.meanLatencyMs, 2),
                Format.fixed(line.meanCost),
            ])
        }
        print(table.render())
        print("\(records.count) row(s) in \(store.label)")
    }
}
