import Foundation

/// A safetensors file, memory-mapped and validated when opened.
///
/// Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian header length `N`, `N` bytes of
/// JSON mapping each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to the
/// end of the header) plus an optional `"__metadata__"` string map, then the raw little-endian tensor bytes.
///
/// Opening checks everything a later read relies on: the header length, the JSON, every dtype, shape and byte
/// range (inside the file, matching the shape, not overlapping). Reads then cannot fail except for a missing
/// tensor or a non-float dtype, and never crash on a corrupt file.
public final class SafetensorsFile: Sendable {
    /// The file's path, for messages.
    public let path: String
    /// The `__metadata__` map of the header (empty when absent).
    public let metadata: [String: String]
    /// Every tensor's location, by name.
    public let tensorInfos: [String: SafetensorsTensorInfo]

    private let file: MappedFile

    /// The largest header the reader accepts (the reference implementation's limit).
    public static let maximumHeaderLength = 100_000_000

    /// Opens and validates the safetensors file at `path`.
    public init(contentsOf path: String) throws(SafetensorsError) {
        self.path = path
        file = try MappedFile(path: path)
        guard file.count >= 8 else {
            throw SafetensorsError(
                .invalidHeaderLength, file: path, "file of \(file.count) bytes is too short to hold a header length")
        }
        let lengthBytes = file.bytes(0..<8)
        var rawLength: UInt64 = 0
        for index in (0..<8).reversed() { rawLength = rawLength << 8 | UInt64(lengthBytes[index]) }
        guard rawLength <= UInt64(Self.maximumHeaderLength) else {
            throw SafetensorsError(
                .invalidHeaderLength, file: path,
                "header length \(rawLength) exceeds the limit of \(Self.maximumHeaderLength) bytes")
        }
        let headerLength = Int(rawLength)
        guard headerLength <= file.count - 8 else {
            throw SafetensorsError(
                .invalidHeaderLength, file: path,
                "header length \(headerLength) runs past the end of the \(file.count)-byte file (truncated?)")
        }
        guard headerLength >= 2 else {
            throw SafetensorsError(
                .invalidHeader, file: path, "header of \(headerLength) bytes cannot hold a JSON object")
        }
        let header = Data(file.bytes(8..<(8 + headerLength)))
        let dataStart = 8 + headerLength
        (metadata, tensorInfos) = try Self.parseHeader(
            header, dataStart: dataStart, dataCount: file.count - dataStart, path: path)
    }

    /// Tensor names, sorted.
    public var tensorNames: [String] { tensorInfos.keys.sorted() }

    /// The location of tensor `name`, or a `missingTensor` error.
    public func info(named name: String) throws(SafetensorsError) -> SafetensorsTensorInfo {
        guard let info = tensorInfos[name] else {
            throw SafetensorsError(
                .missingTensor, file: path, tensor: name, "no such tensor (the file has \(tensorInfos.count))")
        }
        return info
    }

    /// Whether the file holds a tensor called `name`.
    public func contains(_ name: String) -> Bool { tensorInfos[name] != nil }

    /// Tensor `name` converted to Float32 (from F32, F16, BF16 or F64).
    public func tensor(named name: String) throws(SafetensorsError) -> SafetensorsTensor {
        let info = try info(named: name)
        return SafetensorsTensor(shape: info.shape, values: try values(of: info))
    }

    /// Tensor `name` as a matrix: 2-D tensors as they are, 1-D tensors as one row.
    public func matrix(named name: String) throws(SafetensorsError) -> Matrix {
        let info = try info(named: name)
        let values = try values(of: info)
        switch info.shape.count {
        case 1: return Matrix(rows: 1, columns: info.shape[0], storage: values)
        case 2: return Matrix(rows: info.shape[0], columns: info.shape[1], storage: values)
        default:
            throw SafetensorsError(
                .invalidShape, file: path, tensor: name, "shape \(info.shape) is not a matrix or a vector")
        }
    }

    /// Tensor `name` after checking that its shape is `expected`.
    public func tensor(named name: String, shape expected: [Int]) throws(SafetensorsError) -> [Float] {
        let info = try info(named: name)
        guard info.shape == expected else {
            throw SafetensorsError(
                .invalidShape, file: path, tensor: name, "shape \(info.shape), expected \(expected)")
        }
        return try values(of: info)
    }

    private func values(of info: SafetensorsTensorInfo) throws(SafetensorsError) -> [Float] {
        let count = info.elementCount
        let bytes = file.bytes(info.byteRange)
        switch info.dtype {
        case .f32:
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                for index in 0..<count {
                    let bits = bytes.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)
                    buffer[index] = Float(bitPattern: UInt32(littleEndian: bits))
                }
                initialized = count
            }
        case .f16, .bf16:
            let isBrain = info.dtype == .bf16
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                for index in 0..<count {
                    let bits = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
                    buffer[index] = isBrain ? HalfPrecision.floatFromBF16(bits) : HalfPrecision.floatFromF16(bits)
                }
                initialized = count
            }
        case .f64:
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                for index in 0..<count {
                    let bits = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))
                    buffer[index] = Float(Double(bitPattern: bits))
                }
                initialized = count
            }
        default:
            throw SafetensorsError(
                .unsupportedDType, file: path, tensor: info.name,
                "dtype \(info.dtype.rawValue) cannot be read as Float32 (F32, F16, BF16 or F64 only)")
        }
    }

    // MARK: - Header validation

    private static func parseHeader(
        _ header: Data, dataStart: Int, dataCount: Int, path: String
    ) throws(SafetensorsError) -> ([String: String], [String: SafetensorsTensorInfo]) {
        guard String(data: header, encoding: .utf8) != nil else {
            throw SafetensorsError(.invalidHeader, file: path, "header is not valid UTF-8")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: header, options: [])
        } catch {
            throw SafetensorsError(
                .invalidHeader, file: path, "header is not valid JSON: \(error.localizedDescription)")
        }
        guard let entries = object as? [String: Any] else {
            throw SafetensorsError(.invalidHeader, file: path, "header is JSON but not an object")
        }
        var metadata: [String: String] = [:]
        var infos: [String: SafetensorsTensorInfo] = [:]
        for (name, value) in entries {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else {
                    throw SafetensorsError(.invalidHeader, file: path, "__metadata__ is not an object")
                }
                for (key, item) in map {
                    guard let text = item as? String else {
                        throw SafetensorsError(
                            .invalidHeader, file: path, "__metadata__ value for \"\(key)\" is not a string")
                    }
                    metadata[key] = text
                }
                continue
            }
            infos[name] = try parseEntry(name: name, value, dataStart: dataStart, dataCount: dataCount, path: path)
        }
        // Byte ranges must not overlap (the reference writer lays them end to end).
        let ordered = infos.values.sorted { ($0.byteRange.lowerBound, $0.name) < ($1.byteRange.lowerBound, $1.name) }
        for (previous, next) in zip(ordered, ordered.dropFirst())
        where !next.byteRange.isEmpty && next.byteRange.lowerBound < previous.byteRange.upperBound {
            throw SafetensorsError(
                .invalidOffsets, file: path, tensor: next.name,
                "bytes \(next.byteRange.lowerBound - dataStart)..<\(next.byteRange.upperBound - dataStart) overlap "
                    + "tensor \"\(previous.name)\"")
        }
        return (metadata, infos)
    }

    private static func parseEntry(
        name: String, _ value: Any, dataStart: Int, dataCount: Int, path: String
    ) throws(SafetensorsError) -> SafetensorsTensorInfo {
        guard let entry = value as? [String: Any] else {
            throw SafetensorsError(.invalidHeader, file: path, tensor: name, "entry is not an object")
        }
        guard let dtypeName = entry["dtype"] as? String else {
            throw SafetensorsError(.invalidHeader, file: path, tensor: name, "entry has no \"dtype\" string")
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw SafetensorsError(
                .unsupportedDType, file: path, tensor: name,
                "unknown dtype \"\(dtypeName.prefix(40))\" (expected one of "
                    + SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        guard let shapeList = entry["shape"] as? [Any], let shape = integers(shapeList), shape.allSatisfy({ $0 >= 0 })
        else {
            throw SafetensorsError(
                .invalidShape, file: path, tensor: name, "\"shape\" is not a list of non-negative integers")
        }
        guard let offsetList = entry["data_offsets"] as? [Any], let offsets = integers(offsetList), offsets.count == 2
        else {
            throw SafetensorsError(
                .invalidOffsets, file: path, tensor: name, "\"data_offsets\" is not a pair of integers")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin >= 0, begin <= end else {
            throw SafetensorsError(.invalidOffsets, file: path, tensor: name, "data_offsets [\(begin), \(end)] invalid")
        }
        guard end <= dataCount else {
            throw SafetensorsError(
                .invalidOffsets, file: path, tensor: name,
                "data_offsets [\(begin), \(end)] run past the \(dataCount) data bytes of the file (truncated?)")
        }
        var elements = 1
        for dimension in shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
            guard !overflow else {
                throw SafetensorsError(.invalidShape, file: path, tensor: name, "shape \(shape) overflows")
            }
            elements = product
        }
        let (byteCount, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, byteCount == end - begin else {
            throw SafetensorsError(
                .invalidShape, file: path, tensor: name,
                "shape \(shape) of \(dtype.rawValue) needs \(overflow ? "too many" : String(byteCount)) bytes, "
                    + "data_offsets give \(end - begin)")
        }
        return SafetensorsTensorInfo(
            name: name, dtype: dtype, shape: shape, byteRange: (dataStart + begin)..<(dataStart + end))
    }

    /// The values as Swift integers, or nil if any is not an integral JSON number.
    private static func integers(_ list: [Any]) -> [Int]? {
        var result: [Int] = []
        result.reserveCapacity(list.count)
        for item in list {
            if let number = item as? Int {
                result.append(number)
            } else if let number = item as? Double, number.rounded() == number, abs(number) < 0x1p62 {
                result.append(Int(number))
            } else {
                return nil
            }
        }
        return result
    }
}
