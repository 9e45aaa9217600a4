import Foundation

/// Where the shared routing datasets live: one setting, with a fallback beside the checkout.
public enum DatasetLocation {
    /// The environment variable naming the datasets folder.
    public static let environmentVariable = "CATIMAGE_DATASETS"

    /// `$CATIMAGE_DATASETS` when set, else `../shared/datasets` relative to `base` (the current directory by
    /// default): the layout of a checkout beside the project's shared folder.
    public static func directory(relativeTo base: String = FileManager.default.currentDirectoryPath) -> String {
        if let value = ProcessInfo.processInfo.environment[environmentVariable], !value.isEmpty {
            return value
        }
        return URL(fileURLWithPath: base).appendingPathComponent("../shared/datasets").standardizedFileURL.path
    }
}
