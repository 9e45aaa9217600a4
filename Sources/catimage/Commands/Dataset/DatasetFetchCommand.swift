import ArgumentParser
import CATImage
import CATImageCore
import Foundation

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
        let folder: String
        do {
            folder = try await DatasetCatalog.fetch(
                entry, into: into ?? DatasetCatalog.defaultDataDirectory, mirror: source,
                log: { Terminal.printError($0) })
        } catch let error as DatasetCatalog.FetchError where [.needsMirror, .downloadFailed].contains(error.code) {
            throw CommandFailure(
                "\(error.message): use --mirror DIR (or set CATIMAGE_DATASETS), e.g. --mirror ../shared/datasets")
        }
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
