/// A problem with a collection, its inputs or its servers, naming the file, line and value at fault.
///
/// The library names things by what they are (`file`, `key`); the CLI maps them to its flags.
public struct CollectionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem it is; stable for tests and tools.
    public enum Code: String, Sendable, Equatable {
        /// The prompts file cannot be read.
        case unreadablePrompts
        /// The prompts file has bytes that are not UTF-8.
        case invalidUTF8
        /// A prompt line or record is malformed (bad JSON, no `prompt`, empty text, duplicate id).
        case invalidPrompt
        /// The prompts file holds no prompt.
        case noPrompts
        /// The prompts file disagrees with the prompts already in the collection.
        case promptsChanged
        /// A generator asked for is not in the config's `generators:` section.
        case unknownGenerator
        /// The folder was collected with a different `generators:` section.
        case configMismatch
        /// The cost table is malformed or names no generator of the config.
        case invalidCostTable
        /// The folder is not a collection (no `collection.sqlite`) or has a newer schema.
        case notACollection
        /// SQLite or the file system failed.
        case storage
        /// An option value is out of range.
        case invalidOption
    }

    /// The class of problem.
    public let code: Code
    /// The file or folder at fault, if any.
    public let file: String?
    /// The 1-based line at fault, if known.
    public let line: Int?
    /// The offending value, if there is one.
    public let value: String?
    /// What is wrong, in words a person can act on.
    public let message: String

    /// An error of `code` at the given place.
    public init(_ code: Code, file: String? = nil, line: Int? = nil, value: String? = nil, _ message: String) {
        self.code = code
        self.file = file
        self.line = line
        self.value = value
        self.message = message
    }

    public var description: String {
        var place = file ?? ""
        if let line { place += place.isEmpty ? "line \(line)" : ":\(line)" }
        var text = place.isEmpty ? message : "\(place): \(message)"
        if let value { text += " (value: \"\(value.prefix(120))\")" }
        return text
    }
}
