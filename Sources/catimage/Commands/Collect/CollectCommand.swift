import ArgumentParser
import CATImageCollect

/// `catimage collect`: build a routing dataset on the user's own generators.
struct CollectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Render prompts with the gateway's generators into a collection folder; export or inspect it.",
        discussion: """
            The loop on your own pool (README, "Your own generators"):
              catimage collect --config gateway.yaml --prompts prompts.txt --samples 2 --out pool
              catimage score --collection pool --scorer http://127.0.0.1:9000/score --metric clip
              catimage collect export --collection pool --out pool.csv
              catimage train --csv pool.csv --id-column prompt_id --quality-column clip --cost-column cost -o router.catimage
            """,
        subcommands: [CollectRunCommand.self, CollectExportCommand.self, CollectInspectCommand.self],
        defaultSubcommand: CollectRunCommand.self
    )
}

extension CollectionError {
    /// The error with the library's field names replaced by the flags that set them.
    var forCommandLine: CommandFailure {
        let flag: String? =
            switch code {
            case .unreadablePrompts, .invalidUTF8, .invalidPrompt, .noPrompts, .promptsChanged: "--prompts"
            case .unknownGenerator: "--generators"
            case .configMismatch: "--out"
            case .invalidCostTable: "--cost-table"
            case .notACollection: "--collection"
            case .storage, .invalidOption: nil
            }
        return CommandFailure(flag.map { "\($0): \(description)" } ?? description)
    }
}
