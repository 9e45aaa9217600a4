import Foundation

/// The `catimage` executable: `$CATIMAGE_BINARY`, else the one built beside the running test bundle (or one folder
/// up from it).
public func catimageBinary() throws -> String {
    if let given = ProcessInfo.processInfo.environment["CATIMAGE_BINARY"], !given.isEmpty { return given }
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [bundle, bundle.deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent("catimage").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    throw BinaryNotFound(searched: bundle.path)
}

/// No `catimage` executable beside the test bundle and no `$CATIMAGE_BINARY`.
public struct BinaryNotFound: Error, CustomStringConvertible {
    /// The folder searched (and its parent).
    public var searched: String

    public var description: String {
        "no catimage executable near \(searched): run `swift build --build-tests` first or set CATIMAGE_BINARY"
    }
}
