/// A problem loading or fetching a sentence-encoder model, naming the file and what is wrong.
public struct EncoderError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem it is; stable for tests and tools.
    public enum Code: String, Sendable, Equatable {
        /// A file of the model folder is missing or unreadable.
        case missingFile
        /// A configuration file holds something unexpected.
        case invalidConfiguration
        /// The weights do not fit the configuration.
        case invalidWeights
        /// The tokenizer cannot be loaded.
        case invalidTokenizer
        /// Downloading or unpacking the model failed.
        case fetchFailed
        /// A file's SHA-256 is not the expected one.
        case digestMismatch
        /// The embedding cache cannot be read or written.
        case cacheFailure
        /// An output file cannot be written.
        case writeFailure
    }

    /// The class of problem.
    public let code: Code
    /// The file at fault, if any.
    public let file: String?
    /// What is wrong, in words a person can act on.
    public let message: String

    /// An error of `code` about `file`.
    public init(_ code: Code, file: String? = nil, _ message: String) {
        self.code = code
        self.file = file
        self.message = message
    }

    public var description: String { file.map { "\($0): \(message)" } ?? message }
}
