import ArgumentParser
import Foundation

/// A failure while a command runs (not a usage mistake): printed as `Error: message` without the usage text.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }
}
