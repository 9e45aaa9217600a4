import ArgumentParser
import Foundation

/// `catimage log`: the gateway's SQLite decision log.
struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Export or summarise the gateway's decision log.",
        subcommands: [LogExportCommand.self, LogSummaryCommand.self]
    )
}
