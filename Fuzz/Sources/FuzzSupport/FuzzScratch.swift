import Foundation

/// One scratch file per fuzzing process for parsers that read from a path.
public enum FuzzScratch {
    static let folder: String = {
        let path = NSTemporaryDirectory() + "catimage-fuzz-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    public static func write(_ bytes: UnsafeBufferPointer<UInt8>, name: String) -> String {
        let path = folder + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(buffer: bytes))
        return path
    }
}
