import CATImageCore
import Foundation

extension Matrix {
    /// Reads a 2-D little-endian float32 array from a NumPy `.npy` file (version 1 or 2, C order): features
    /// computed elsewhere, for comparing against another implementation.
    public static func readNumpy(contentsOf path: String) throws -> Matrix {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw EstimatorError("\(path): cannot read: \(error.localizedDescription)")
        }
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw EstimatorError("\(path): not a .npy file")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        } else {
            guard bytes.count >= 12 else { throw EstimatorError("\(path): truncated .npy header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        }
        guard headerStart + headerLength <= bytes.count else { throw EstimatorError("\(path): truncated .npy header") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard header.contains("'descr': '<f4'"), header.contains("'fortran_order': False") else {
            throw EstimatorError("\(path): need a C-order little-endian float32 array, header is \(header)")
        }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")")
        else { throw EstimatorError("\(path): no shape in header \(header)") }
        let dims = header[open.upperBound..<close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        guard dims.count == 2 else { throw EstimatorError("\(path): need a 2-D array, shape is \(dims)") }
        let start = headerStart + headerLength
        let count = dims[0] * dims[1]
        guard bytes.count - start == count * 4 else {
            throw EstimatorError("\(path): \(bytes.count - start) data bytes for shape \(dims)")
        }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { target in
            data.withUnsafeBytes { source in
                target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[start..<(start + count * 4)]))
            }
        }
        return Matrix(rows: dims[0], columns: dims[1], storage: values)
    }
}
