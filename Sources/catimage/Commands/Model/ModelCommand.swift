import ArgumentParser
import Foundation

/// `catimage model`: get and inspect the sentence-encoder weights.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Fetch and inspect the MiniLM sentence encoder.",
        discussion: """
            Examples:
              catimage model fetch
              catimage model info
            """,
        subcommands: [ModelFetchCommand.self, ModelInfoCommand.self]
    )
}
