import CATImageCore
import Foundation

/// NumPy `.npy` files (format version 1.0) holding a little-endian float32 matrix, readable by `numpy.load`.
public enum NumPyArray {
    /// The bytes of an `.npy` file holding `matrix` as `<f4` with shape `(rows, columns)`, C order.
    public static func encode(_ matrix: Matrix) -> Data {
        let dictionary = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(matrix.rows), \(matrix.columns)), }"
        // Magic (6) + version (2) + header length (2) + header, padded with spaces and ended by a newline so the
        // data starts on a multiple of 64 bytes, as numpy writes it.
        var header = dictionary
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        #if _endian(little)
            matrix.storage.withUnsafeBytes { data.append(contentsOf: $0) }
        #else
            for value in matrix.storage {
                var bits = value.bitPattern.littleEndian
                withUnsafeBytes(of: &bits) { data.append(contentsOf: $0) }
            }
        #endif
        return data
    }

    /// Writes `matrix` to `path` as an `.npy` file, atomically.
    public static func write(_ matrix: Matrix, to path: String) throws(EncoderError) {
        do {
            try encode(matrix).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw EncoderError(.writeFailure, file: path, "cannot write the .npy file: \(error.localizedDescription)")
        }
    }
}
