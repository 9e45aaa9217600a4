import Foundation

@testable import CATImageCore

/// Locations and scratch files shared by this target's tests.
enum TestSupport {
    /// The package root, found from this file's path.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The shared datasets folder (`CATIMAGE_DATASETS`, else `../shared/datasets` beside the package).
    static var datasets: String { DatasetLocation.directory(relativeTo: packageRoot) }

    /// This test process's scratch folder, removed when the process exits.
    static let scratchFolder: URL = {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "catimage-core-tests-\(ProcessInfo.processInfo.processIdentifier)")
        atexit { try? FileManager.default.removeItem(at: TestSupport.scratchFolder) }
        return folder
    }()

    /// Writes `contents` (raw bytes) to a fresh temporary file and returns its path.
    static func temporaryFile(_ bytes: [UInt8], name: String = "data.csv") -> String {
        let folder = scratchFolder.appendingPathComponent(UUID().uuidString)
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent(name).path
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// Writes UTF-8 text to a fresh temporary file and returns its path.
    static func temporaryFile(_ text: String, name: String = "data.csv") -> String {
        temporaryFile(Array(text.utf8), name: name)
    }
}
