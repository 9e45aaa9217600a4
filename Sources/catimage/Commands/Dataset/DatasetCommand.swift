import ArgumentParser
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
