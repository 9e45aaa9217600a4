import ArgumentParser
import CATImageCollect
import Foundation

/// `catimage collect export`: the collection as the long CSV `train --csv` reads.
struct CollectExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a collection as a long CSV: prompt_id, prompt, generator, sample, cost, <metrics>, rating.",
        discussion: """
            One row per done render; a metric cell is empty where the render has no score, rating is the mean
            over raters (empty when unrated). Train on one metric column:
              catimage collect export --collection pool --out pool.csv
              catimage train --csv pool.csv --id-column prompt_id --quality-column clip --cost-column cost \\
                -o router.catimage
            """
    )

    @Option(help: "The collection folder.")
    var collection: String

    @Option(help: "Write here instead of standard output.")
    var out: String?

    func run() throws {
        let export: CollectionExport
        do {
            export = try CollectionStore(existing: collection).export()
        } catch {
            throw error.forCommandLine
        }
        guard let out else {
            print(export.csv, terminator: "")
            return
        }
        // Written beside the output and renamed into place, so a failed export leaves no half-written CSV.
        let partial = out + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        do {
            try Data(export.csv.utf8).write(to: URL(fileURLWithPath: partial))
            if FileManager.default.fileExists(atPath: out) { try FileManager.default.removeItem(atPath: out) }
            try FileManager.default.moveItem(atPath: partial, toPath: out)
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw CommandFailure("--out: cannot write \(out): \(error.localizedDescription)")
        }
        Terminal.printError("wrote \(export.rows.count) row(s) to \(out)")
        for (metric, missing) in export.missingScores.sorted(by: { $0.key < $1.key }) where missing > 0 {
            Terminal.warn(
                "\(missing) row(s) have no '\(metric)' score (empty cells): run `catimage score --metric \(metric)` "
                    + "again to fill them before training on it")
        }
    }
}
