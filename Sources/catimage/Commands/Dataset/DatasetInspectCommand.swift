import ArgumentParser
import CATImageCore
import Foundation

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
