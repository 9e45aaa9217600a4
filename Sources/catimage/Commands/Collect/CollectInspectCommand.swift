import ArgumentParser
import CATImageCollect
import Foundation

/// `catimage collect inspect`: what a collection holds and what it lacks.
struct CollectInspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract:
            "Print a collection's counts, per-generator means, coverage (renders missing a score) and rater agreement.",
        discussion: """
            Examples:
              catimage collect inspect --collection pool
              catimage collect inspect --collection pool --json
            """
    )

    @Option(help: "The collection folder.")
    var collection: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let summary: CollectionSummary
        do {
            summary = try CollectionStore(existing: collection).summary()
        } catch {
            throw error.forCommandLine
        }
        if json {
            try JSONOutput.print(summary)
            return
        }
        print(
            "\(summary.prompts) prompts, \(summary.renders) renders (\(summary.done) done, \(summary.failed) failed), "
                + "\(summary.ratings) ratings")
        var table = TextTable(
            ["generator", "done", "failed", "mean cost", "p95 cost"] + summary.metrics.map { "mean \($0)" } + ["rated"])
        for line in summary.generators {
            table.add(
                [
                    line.name, "\(line.done)", "\(line.failed)", Format.fixed(line.meanCost),
                    Format.fixed(line.p95Cost),
                ] + summary.metrics.map { Format.fixed(line.meanScores[$0], 4) } + ["\(line.rated)"])
        }
        print(table.render())
        print("\ncoverage (done renders missing a score or rating):")
        if summary.metrics.isEmpty { print("  no scores yet: run `catimage score`") }
        for metric in summary.metrics {
            print("  \(metric): \(summary.missingScores[metric] ?? 0) of \(summary.done) missing")
        }
        print("  rating: \(summary.unrated) of \(summary.done) unrated")
        let agreement = summary.agreement
        print(
            "\nrater agreement: \(agreement.raters) rater(s), \(agreement.pairableImages) image(s) rated by 2 or more; "
                + "Krippendorff's alpha ordinal \(Format.fixed(agreement.alphaOrdinal)), interval "
                + "\(Format.fixed(agreement.alphaInterval)); mean pairwise Spearman "
                + "\(Format.fixed(agreement.meanPairwiseSpearman)) over \(agreement.spearmanPairs) pair(s)")
    }
}
