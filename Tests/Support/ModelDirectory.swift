import Foundation

/// The MiniLM folder: `$CATIMAGE_MODEL_DIR`, else `~/.cache/catimage/models/all-MiniLM-L6-v2`, whichever holds
/// `model.safetensors` first.
public func miniLMDirectory() throws -> String {
    let candidates = [
        ProcessInfo.processInfo.environment["CATIMAGE_MODEL_DIR"],
        FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(
            ".cache/catimage/models/all-MiniLM-L6-v2"
        ).path,
    ].compactMap { $0 }.filter { !$0.isEmpty }
    for path in candidates where FileManager.default.fileExists(atPath: path + "/model.safetensors") {
        return path
    }
    throw MissingModel(searched: candidates)
}

/// The all-MiniLM-L6-v2 weights are in none of the folders searched.
public struct MissingModel: Error, CustomStringConvertible {
    /// The folders looked in, in order.
    public var searched: [String]

    public var description: String {
        "the all-MiniLM-L6-v2 weights are not in \(searched.joined(separator: " or ")): "
            + "run `catimage model fetch` (or set CATIMAGE_MODEL_DIR)"
    }
}
