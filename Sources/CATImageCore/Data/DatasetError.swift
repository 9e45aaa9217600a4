/// A problem with input data, naming the file, line, column and value at fault.
public struct DatasetError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem it is; stable for tests and tools.
    public enum Code: String, Sendable, Equatable {
        case unreadableFile
        case invalidUTF8
        case malformedCSV
        case raggedRow
        case missingColumn
        case invalidNumber
        case emptyPrompt
        case inconsistentPrompt
        case unknownGenerator
        case missingGenerator
        case mismatchedFiles
        case emptyDataset
        case invalidOption
        /// A header names the same column twice.
        case duplicateColumn
        /// A cost table names the same generator twice.
        case duplicateGenerator
    }

    /// Which column of a long CSV a name was asked for (callers map it to their own option names).
    public enum ColumnRole: String, Sendable, Equatable, CaseIterable {
        case prompt, generator, quality, id, group, cost
    }

    /// The class of problem.
    public let code: Code
    /// The file at fault, if any.
    public let file: String?
    /// The 1-based line at fault, if known.
    public let line: Int?
    /// The column (name or "field N") at fault, if known.
    public let column: String?
    /// The offending value, if there is one.
    public let value: String?
    /// The role of the missing or bad column, when the error is about one the caller named.
    public let role: ColumnRole?
    /// What is wrong, in words a person can act on.
    public let message: String

    /// An error of `code` at the given place.
    public init(
        _ code: Code, file: String? = nil, line: Int? = nil, column: String? = nil, value: String? = nil,
        role: ColumnRole? = nil, _ message: String
    ) {
        self.code = code
        self.file = file
        self.line = line
        self.column = column
        self.value = value
        self.role = role
        self.message = message
    }

    public var description: String {
        var place = file ?? ""
        if let line { place += place.isEmpty ? "line \(line)" : ":\(line)" }
        if let column { place += place.isEmpty ? "column \(column)" : ", column \(column)" }
        var text = place.isEmpty ? message : "\(place): \(message)"
        if let value { text += " (value: \"\(value.prefix(120))\")" }
        return text
    }
}
