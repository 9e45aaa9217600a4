import ArgumentParser
import CATImageCollect
import Foundation
import Logging

/// `catimage rate`: blind side-by-side human ratings of a collection's images in a local web page.
struct RateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rate",
        abstract: "Rate a collection's images 1-5 in a local web page (blind, side by side), or report agreement.",
        discussion: """
            Serves a page with one prompt at a time and its images from every
            generator, shuffled and without generator names. Keys: 1-5 rate the
            selected image, arrows or Tab select, S skips, U undoes. Ratings go
            into DIR/collection.sqlite (tables ratings and rating_skips). The page
            loads nothing from the network.

            Examples:
              catimage rate --collection runs/pool    # open http://127.0.0.1:8090/
              catimage rate --collection runs/pool --report
              catimage rate --collection runs/pool --report --json
            """
    )

    @Option(help: "The collection folder (holds collection.sqlite and images/).")
    var collection: String

    @Option(help: "Listen on this port (0 picks a free one).")
    var port: Int = 8090

    @Option(help: "Listen on this address; the page has no authentication, so keep it on loopback unless trusted.")
    var host: String = "127.0.0.1"

    @Flag(help: "Print raters, ratings per rater and their agreement instead of serving the page.")
    var report = false

    @Flag(help: "With --report: one JSON object instead of text.")
    var json = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        if json && !report { throw ValidationError("--json goes with --report") }
        if Logger.Level(rawValue: logLevel) == nil { throw ValidationError("unknown --log-level '\(logLevel)'") }
    }

    func run() async throws {
        let store: RatingStore
        do {
            store = try RatingStore(collectionAt: collection)
        } catch let error as RatingError {
            throw CommandFailure("--collection \(collection): \(error)")
        }
        if report {
            try printReport(try store.report())
            return
        }
        var logger = Logger(label: "catimage.rate")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let host = host
        let app = buildRatingApplication(
            session: RatingSession(store: store), configuration: .init(host: host, port: port), logger: logger
        ) { port in
            FileHandle.standardOutput.write(Data("catimage rate: open http://\(host):\(port)/ to rate\n".utf8))
        }
        try await app.runService()
    }

    func printReport(_ report: RatingReport) throws {
        if json {
            try JSONOutput.print(report)
            return
        }
        var table = TextTable(["rater", "ratings", "skips", "mean rating"])
        for rater in report.raters {
            table.add([rater.name, "\(rater.ratings)", "\(rater.skips)", Format.fixed(rater.meanRating, 2)])
        }
        let agreement = report.agreement
        print("\(report.raters.count) rater(s) in \(collection)")
        if !report.raters.isEmpty { print(table.render()) }
        print(
            "images: \(report.images) done, \(report.ratedImages) rated, "
                + "\(report.imagesWithTwoOrMoreRaters) with 2 or more raters (\(agreement.pairableRatings) ratings)")
        print("Krippendorff's alpha, ordinal:  \(Format.fixed(agreement.alphaOrdinal))")
        print("Krippendorff's alpha, interval: \(Format.fixed(agreement.alphaInterval))")
        print(
            "mean pairwise Spearman:         \(Format.fixed(agreement.meanPairwiseSpearman)) over "
                + "\(agreement.spearmanPairs) rater pair(s) with at least \(RaterAgreement.minimumCoRated) "
                + "co-rated images")
    }
}
