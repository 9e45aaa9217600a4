import ArgumentParser
import AsyncHTTPClient
import Foundation

/// `catimage bench`: speed measurements, one subcommand per part.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the speed of CATImage's parts on this machine.",
        subcommands: [
            BenchEncoderCommand.self, BenchRouteCommand.self, BenchGatewayCommand.self, BenchTrainCommand.self,
            BenchOpeCommand.self,
        ]
    )
}
