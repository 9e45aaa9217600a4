import Foundation

/// Writes Float32 tensors and a string metadata map as a safetensors file.
///
/// Tensors are laid out end to end in name order, the header is padded with spaces to a multiple of 8 bytes
/// (as the reference writer does), so the output is byte-for-byte deterministic for the same input.
public enum SafetensorsWriter {
    /// The complete file contents for `tensors` and `metadata`.
    public static func encode(
        tensors: [String: SafetensorsTensor], metadata: [String: String] = [:]
    ) throws(SafetensorsError) -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        let ordered = tensors.sorted { $0.key < $1.key }
        var offset = 0
        for (name, tensor) in ordered {
            guard name != "__metadata__" else {
                throw SafetensorsError(
                    .invalidHeader, file: "<output>", tensor: name, "the name __metadata__ is reserved")
            }
            let byteCount = tensor.values.count * 4
            header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + byteCount]]
            offset += byteCount
        }
        var json: Data
        do {
            json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        } catch {
            throw SafetensorsError(
                .invalidHeader, file: "<output>", "cannot encode the header: \(error.localizedDescription)")
        }
        while json.count % 8 != 0 { json.append(0x20) }
        var output = Data(capacity: 8 + json.count + offset)
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { output.append(contentsOf: $0) }
        output.append(json)
        for (_, tensor) in ordered {
            let values = tensor.values
            #if _endian(little)
                values.withUnsafeBytes { output.append(contentsOf: $0) }
            #else
                for value in values {
                    var bits = value.bitPattern.littleEndian
                    withUnsafeBytes(of: &bits) { output.append(contentsOf: $0) }
                }
            #endif
        }
        return output
    }

    /// Writes `tensors` and `metadata` to `path` atomically (a temporary file renamed into place).
    public static func write(
        tensors: [String: SafetensorsTensor], metadata: [String: String] = [:], to path: String
    ) throws(SafetensorsError) {
        let data = try encode(tensors: tensors, metadata: metadata)
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw SafetensorsError(.unreadableFile, file: path, "cannot write: \(error.localizedDescription)")
        }
    }
}
