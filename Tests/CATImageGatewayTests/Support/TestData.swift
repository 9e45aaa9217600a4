import CATImageCore
import Foundation

/// The shared datasets: `$CATIMAGE_DATASETS`, else `../shared/datasets` beside the package root.
enum TestData {
    static var datasetsDirectory: String {
        if let value = ProcessInfo.processInfo.environment["CATIMAGE_DATASETS"], !value.isEmpty { return value }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return packageRoot.appendingPathComponent("../shared/datasets").standardizedFileURL.path
    }

    /// CEMS with CLIP scores (10,000 prompts x 4 generators, measured seconds per prompt).
    static func cems() throws -> RoutingDataset {
        var report = DatasetLoadReport()
        return try RoutingDataset.loadCEMS(
            directory: datasetsDirectory + "/cems", metric: "clip", report: &report)
    }

    /// The MiniLM folder: `$CATIMAGE_MODEL_DIR`, else `~/.cache/catimage/models/all-MiniLM-L6-v2`.
    static func modelDirectory() throws -> String {
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
}
