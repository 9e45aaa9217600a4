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
}
