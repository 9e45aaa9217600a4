import Foundation

/// The MiniLM folder: `$CATIMAGE_MODEL_DIR`, else `~/.cache/catimage/models/all-MiniLM-L6-v2`.
func miniLMDirectory() throws -> String {
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

struct MissingModel: Error, CustomStringConvertible {
    var searched: [String]
    var description: String {
        "the all-MiniLM-L6-v2 weights are not in \(searched.joined(separator: " or ")): "
            + "run `catimage model fetch` (or set CATIMAGE_MODEL_DIR)"
    }
}
