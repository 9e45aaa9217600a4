import Foundation

/// SHA-256 of model weights, remembered in a small sidecar file so that loading a model does not re-hash
/// 90 MB every time.
///
/// The sidecar (`model.safetensors.sha256`, written by `ModelStore` after it verified a download, or by
/// `digest(ofWeights:)` where the folder is writable) holds `<hex digest> <byte size> <modification time>`; it is
/// trusted only while the weights file's size and modification time still match.
public enum ModelDigest {
    /// The lowercase hex SHA-256 of the weights file at `path`.
    public static func digest(ofWeights path: String) throws(EncoderError) -> String {
        let stamp = try fileStamp(path)
        let sidecar = path + ".sha256"
        if let text = try? String(contentsOfFile: sidecar, encoding: .utf8) {
            let fields = text.split(whereSeparator: \.isWhitespace).map(String.init)
            if fields.count == 3, fields[1] == stamp.size, fields[2] == stamp.modified, fields[0].count == 64 {
                return fields[0]
            }
        }
        let digest = try SHA256.hexDigest(ofFile: path)
        remember(digest, for: path)
        return digest
    }

    /// Writes the sidecar for `path` (best effort: a read-only folder just means hashing again next time).
    public static func remember(_ digest: String, for path: String) {
        guard let stamp = try? fileStamp(path) else { return }
        try? "\(digest) \(stamp.size) \(stamp.modified)\n".write(
            toFile: path + ".sha256", atomically: true, encoding: .utf8)
    }

    private static func fileStamp(_ path: String) throws(EncoderError) -> (size: String, modified: String) {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
        } catch {
            throw EncoderError(.missingFile, file: path, "cannot stat: \(error.localizedDescription)")
        }
        let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
        let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        return (String(size), String(format: "%.6f", modified))
    }
}
