import ArgumentParser

/// The subcommands of `catimage`, in the order `--help` lists them.
enum CommandRegistry {
    static let all: [any ParsableCommand.Type] = [
        DatasetCommand.self
    ]
}
