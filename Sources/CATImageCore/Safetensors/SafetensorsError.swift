/// A problem with a safetensors file, naming the file and, where there is one, the tensor at fault.
public struct SafetensorsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem it is; stable for tests and tools.
    public enum Code: String, Sendable, Equatable {
        /// The file cannot be opened, mapped or written.
        case unreadableFile
        /// The 8-byte header length is missing or points past the end of the file.
        case invalidHeaderLength
        /// The header is not a JSON object of the expected form.
        case invalidHeader
        /// A tensor's dtype is not one the format defines, or cannot be read as Float32.
        case unsupportedDType
        /// A tensor's shape is not a list of non-negative integers, or disagrees with its byte count.
        case invalidShape
        /// A tensor's byte range is malformed, overlaps another or lies outside the file.
        case invalidOffsets
        /// The requested tensor is not in the file.
        case missingTensor
    }

    /// The class of problem.
    public let code: Code
    /// The file at fault.
    public let file: String
    /// The tensor at fault, if any.
    public let tensor: String?
    /// What is wrong, in words a person can act on.
    public let message: String

    /// An error of `code` in `file` (and `tensor`, when one is at fault).
    public init(_ code: Code, file: String, tensor: String? = nil, _ message: String) {
        self.code = code
        self.file = file
        self.tensor = tensor
        self.message = message
    }

    public var description: String {
        if let tensor { return "\(file): tensor \"\(tensor)\": \(message)" }
        return "\(file): \(message)"
    }
}
