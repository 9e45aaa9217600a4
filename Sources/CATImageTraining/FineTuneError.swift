/// A problem with fine-tuning input (weights, configuration, data), in words a person can act on.
public struct FineTuneError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong and where.
    public let message: String

    /// An error with its message.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
