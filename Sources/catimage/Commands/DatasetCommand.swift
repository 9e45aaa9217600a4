import ArgumentParser
import CATImage
import CATImageCore
import Foundation

/// `catimage dataset`: look at routing datasets.
struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Fetch and inspect routing datasets.",
        discussion: """
            Examples:
              catimage dataset fetch cems --mirror ../shared/datasets
              catimage dataset inspect --cems ../shared/datasets/cems --metric clip
            """,
        subcommands: [DatasetInspectCommand.self, DatasetFetchCommand.self]
    )
}

/// `catimage dataset inspect`: prompts, generators, groups, per-generator figures, best single, oracle.
struct DatasetInspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a routing dataset's prompts, generators, groups, best single generator and oracle.",
        discussion: """
            Examples:
              catimage dataset inspect --cems ../shared/datasets/cems --metric clip
              catimage dataset inspect \\
                --csv ../shared/datasets/evalmi50k/evalmi50k_long.csv \\
                --id-column prompt_id --group-column tag --generator-column model \\
                --quality-column mos_perception --json
            """
    )

    @OptionGroup var data: DatasetOptions

    @Flag(help: "Print one JSON object instead of tables.")
    var json = false

    func run() throws {
        let dataset = try data.load()
        let summary = DatasetSummary(dataset)
        if json {
            try JSONOutput.print(summary)
            return
        }
        let unit = summary.costUnit.isEmpty ? "" : " (\(summary.costUnit))"
        print("\(Terminal.bold("Dataset")) \(summary.source)")
        print("  metric: \(summary.metric)")
        print("  prompts: \(summary.prompts), generators: \(summary.generators.count)")
        if !summary.groups.isEmpty {
            print("  groups: " + summary.groups.map { "\($0.name) (\($0.prompts))" }.joined(separator: ", "))
        }
        print("")
        var table = TextTable(["generator", "mean quality", "std", "mean cost\(unit)", "best share"])
        for g in summary.generators {
            table.add([
                g.name, Format.fixed(g.meanQuality), Format.fixed(g.qualityStd), Format.fixed(g.meanCost),
                Format.percent(g.bestShare),
            ])
        }
        print(table.render())
        print("")
        let best = summary.bestSingle
        print(
            "best single generator: \(Terminal.green(best.generator)) quality \(Format.fixed(best.quality))"
                + (best.cost.map { " at cost \(Format.fixed($0))\(unit)" } ?? ""))
        print(
            "per-prompt oracle:     quality \(Format.fixed(summary.oracle.quality))"
                + (summary.oracle.cost.map { " at cost \(Format.fixed($0))\(unit)" } ?? ""))
    }
}

/// `catimage dataset fetch`: download a public routing dataset (or copy it from a mirror) with checksums.
struct DatasetFetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Fetch a public routing dataset into the data folder, verifying every file's SHA-256.",
        discussion: """
            Known datasets: \(DatasetCatalog.entries.map { "\($0.name) (\($0.summary))" }.joined(separator: "; ")).

            Without --mirror (or CATIMAGE_DATASETS) the files are downloaded from their original repository.
            Examples:
              catimage dataset fetch cems
              catimage dataset fetch evalmi50k --mirror ../shared/datasets
            """
    )

    @Argument(help: "The dataset: cems or evalmi50k.")
    var name: String

    @Option(help: "Folder to fetch into (default: $CATIMAGE_DATA_DIR or ~/.cache/catimage/datasets).")
    var into: String?

    @Option(help: "A local folder holding <name>/ to copy from instead of downloading (default: $CATIMAGE_DATASETS).")
    var mirror: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() async throws {
        let entry = try DatasetCatalog.entry(named: name)
        let environmentMirror = ProcessInfo.processInfo.environment[DatasetLocation.environmentVariable]
        let source = mirror ?? environmentMirror.flatMap { $0.isEmpty ? nil : $0 }
        let folder = try await DatasetCatalog.fetch(
            entry, into: into ?? DatasetCatalog.defaultDataDirectory, mirror: source,
            log: { Terminal.printError($0) })
        if json {
            struct Result: Encodable {
                var dataset: String
                var folder: String
                var files: [String]
            }
            try JSONOutput.print(Result(dataset: entry.name, folder: folder, files: entry.files.map(\.name)))
        } else {
            print("\(entry.name): \(entry.files.count) file(s) verified in \(folder)")
        }
    }
}
