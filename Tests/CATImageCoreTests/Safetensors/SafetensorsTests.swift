import CATImageCore
import Foundation
import Testing

/// A temporary folder removed when the test ends.
final class TemporaryFolder {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "catimage-core-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

/// Builds a safetensors file by hand: an explicit header text and data bytes, with an optional forged length.
func handMadeSafetensors(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> Data {
    var bytes = Data()
    var length = (declaredLength ?? UInt64(header.utf8.count)).littleEndian
    withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
    bytes.append(contentsOf: Array(header.utf8))
    bytes.append(contentsOf: data)
    return bytes
}

func littleEndianBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { value -> [UInt8] in
        let bits = value.bitPattern
        return [UInt8(bits & 0xFF), UInt8((bits >> 8) & 0xFF), UInt8((bits >> 16) & 0xFF), UInt8(bits >> 24)]
    }
}

func littleEndianBytes(_ halves: [UInt16]) -> [UInt8] {
    halves.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
}

@Suite("Safetensors reader and writer")
struct SafetensorsTests {
    /// Writes `contents` to a fresh file and tries to open it.
    private func open(_ contents: Data) throws -> Result<SafetensorsFile, SafetensorsError> {
        let folder = try TemporaryFolder()
        let path = folder.file("t.safetensors")
        try contents.write(to: URL(fileURLWithPath: path))
        do {
            return .success(try SafetensorsFile(contentsOf: path))
        } catch {
            return .failure(error)
        }
    }

    private func expectError(_ contents: Data, _ code: SafetensorsError.Code, tensor: String? = nil) throws {
        switch try open(contents) {
        case .success:
            Issue.record("expected a \(code) error, the file opened")
        case .failure(let error):
            #expect(error.code == code, "\(error)")
            #expect(error.tensor == tensor, "\(error)")
            if let tensor { #expect(error.description.contains(tensor)) }
        }
    }

    @Test("a hand-made F32 file reads back its shapes, values and metadata (unaligned offsets too)")
    func readsHandMadeFile() throws {
        let header =
            #"{"__metadata__":{"format":"pt","note":"x"},"b":{"dtype":"F32","shape":[3],"data_offsets":[24,36]},"#
            + #""a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"#
            + #""odd":{"dtype":"F32","shape":[1],"data_offsets":[37,41]}}"#
        let data = littleEndianBytes([1, 2, 3, 4, 5, 6, -1.5, 0, 1e-30]) + [0xAA] + littleEndianBytes([7.25])
        let file = try open(handMadeSafetensors(header: header, data: data)).get()
        #expect(file.metadata == ["format": "pt", "note": "x"])
        #expect(file.tensorNames == ["a", "b", "odd"])
        let a = try file.tensor(named: "a")
        #expect(a.shape == [2, 3])
        #expect(a.values == [1, 2, 3, 4, 5, 6])
        #expect(try file.matrix(named: "a") == Matrix(rows: 2, columns: 3, storage: [1, 2, 3, 4, 5, 6]))
        #expect(try file.tensor(named: "b").values == [-1.5, 0, 1e-30])
        #expect(try file.tensor(named: "odd").values == [7.25])
        #expect(try file.matrix(named: "b").shape == [1, 3])
    }

    @Test("F16 and BF16 tensors convert to the exact Float32 values")
    func convertsHalfFormats() throws {
        // F16: 1, -2, 0.5, 65504 (max), 2^-24 (smallest subnormal), -0, +inf.
        let f16: [UInt16] = [0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000, 0x7C00]
        // BF16: 1, -2, 3.140625, 1e-38-ish subnormal, -inf.
        let bf16: [UInt16] = [0x3F80, 0xC000, 0x4049, 0x0001, 0xFF80]
        let header =
            #"{"h":{"dtype":"F16","shape":[7],"data_offsets":[0,14]},"#
            + #""g":{"dtype":"BF16","shape":[5],"data_offsets":[14,24]}}"#
        let file = try open(
            handMadeSafetensors(header: header, data: littleEndianBytes(f16) + littleEndianBytes(bf16))
        ).get()
        let halves = try file.tensor(named: "h").values
        #expect(Array(halves.prefix(5)) == [1, -2, 0.5, 65504, 0x1p-24])
        #expect(halves[5] == 0 && halves[5].sign == .minus)
        #expect(halves[6] == .infinity)
        let brains = try file.tensor(named: "g").values
        #expect(Array(brains.prefix(3)) == [1, -2, 3.140625])
        #expect(brains[3] == Float(bitPattern: 0x0001_0000))
        #expect(brains[4] == -.infinity)
    }

    @Test("a non-float dtype is accepted in the header but reading it as Float32 is an error naming the tensor")
    func integerTensorIsNotFloat() throws {
        let header = #"{"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#
        let file = try open(handMadeSafetensors(header: header, data: [UInt8](repeating: 0, count: 16))).get()
        #expect(try file.info(named: "ids").dtype == .i64)
        #expect(throws: SafetensorsError.self) { try file.tensor(named: "ids") }
        do {
            _ = try file.tensor(named: "ids")
        } catch {
            #expect(error.code == .unsupportedDType && error.tensor == "ids")
        }
    }

    @Test("a header length past the end of the file is rejected")
    func badHeaderLength() throws {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        try expectError(
            handMadeSafetensors(header: header, data: [0, 0, 0, 0], declaredLength: 1000), .invalidHeaderLength)
        try expectError(
            handMadeSafetensors(header: header, data: [0, 0, 0, 0], declaredLength: UInt64.max), .invalidHeaderLength)
        try expectError(Data([1, 2, 3]), .invalidHeaderLength)
        try expectError(Data(), .invalidHeaderLength)
    }

    @Test("a header that is not JSON, or not an object of the right form, is rejected")
    func badJSON() throws {
        try expectError(handMadeSafetensors(header: #"{"a": {"dtype": "F32", "#, data: []), .invalidHeader)
        try expectError(handMadeSafetensors(header: "[1, 2, 3]", data: []), .invalidHeader)
        try expectError(handMadeSafetensors(header: #"{"a": 5}"#, data: []), .invalidHeader, tensor: "a")
        try expectError(
            handMadeSafetensors(header: #"{"__metadata__": {"k": 1}}"#, data: []), .invalidHeader)
        var invalidUTF8 = handMadeSafetensors(header: #"{"a":"xx"}"#, data: [])
        invalidUTF8[13] = 0xFF
        try expectError(invalidUTF8, .invalidHeader)
    }

    @Test("an unknown dtype is rejected, naming the tensor")
    func badDType() throws {
        let header = #"{"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}"#
        try expectError(
            handMadeSafetensors(header: header, data: [UInt8](repeating: 0, count: 8)), .unsupportedDType, tensor: "w")
    }

    @Test("byte ranges outside the data, reversed, overlapping or disagreeing with the shape are rejected")
    func badOffsets() throws {
        let eight = [UInt8](repeating: 0, count: 8)
        try expectError(
            handMadeSafetensors(header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: eight),
            .invalidOffsets, tensor: "w")
        try expectError(
            handMadeSafetensors(header: #"{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}"#, data: eight),
            .invalidOffsets, tensor: "w")
        try expectError(
            handMadeSafetensors(header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#, data: eight),
            .invalidOffsets, tensor: "w")
        try expectError(
            handMadeSafetensors(header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, data: eight),
            .invalidOffsets, tensor: "w")
        try expectError(
            handMadeSafetensors(
                header: #"{"v":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
                    + #""w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: eight),
            .invalidOffsets, tensor: "w")
        try expectError(
            handMadeSafetensors(header: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: eight),
            .invalidShape, tensor: "w")
        try expectError(
            handMadeSafetensors(header: #"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: eight),
            .invalidShape, tensor: "w")
        try expectError(
            handMadeSafetensors(
                header: #"{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, data: eight),
            .invalidShape, tensor: "w")
    }

    @Test("a truncated copy of a valid file is rejected, not read past its end")
    func truncatedFile() throws {
        let full = try SafetensorsWriter.encode(
            tensors: ["a": SafetensorsTensor(shape: [4], values: [1, 2, 3, 4]), "b": SafetensorsTensor([5, 6])])
        let cut = full.prefix(full.count - 3)
        switch try open(Data(cut)) {
        case .success: Issue.record("a truncated file opened")
        case .failure(let error):
            #expect(error.code == .invalidOffsets)
            #expect(error.tensor == "b")
            #expect(error.description.contains("truncated"))
        }
        try expectError(Data(full.prefix(20)), .invalidHeaderLength)
    }

    @Test("asking for a tensor the file lacks is an error naming it")
    func missingTensor() throws {
        let file = try open(try SafetensorsWriter.encode(tensors: ["a": SafetensorsTensor([1])])).get()
        #expect(!file.contains("encoder.layer.9.output.dense.weight"))
        do {
            _ = try file.tensor(named: "encoder.layer.9.output.dense.weight")
            Issue.record("a missing tensor was read")
        } catch {
            #expect(error.code == .missingTensor)
            #expect(error.description.contains("encoder.layer.9.output.dense.weight"))
        }
    }

    @Test("what the writer writes, the reader reads back exactly, with metadata holding JSON text")
    func writerRoundTrip() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("router.safetensors")
        var generator = SeededGenerator(seed: 7)
        let weights = Matrix(
            rows: 5, columns: 3, storage: (0..<15).map { _ in Float.random(in: -1...1, using: &generator) })
        let tensors: [String: SafetensorsTensor] = [
            "estimator.weights": SafetensorsTensor(weights),
            "estimator.bias": SafetensorsTensor([0.5, -0.25, .greatestFiniteMagnitude]),
            "scalar": SafetensorsTensor(shape: [], values: [42]),
            "empty": SafetensorsTensor(shape: [0, 3], values: []),
            "cube": SafetensorsTensor(shape: [2, 1, 2], values: [1, 2, 3, 4]),
        ]
        let metadata = ["config": #"{"generators":["a","b \"q\""],"lambda":0.5}"#, "format": "catimage-router"]
        try SafetensorsWriter.write(tensors: tensors, metadata: metadata, to: path)
        let file = try SafetensorsFile(contentsOf: path)
        #expect(file.metadata == metadata)
        #expect(Set(file.tensorNames) == Set(tensors.keys))
        for (name, tensor) in tensors {
            #expect(try file.tensor(named: name) == tensor, "\(name)")
        }
        #expect(try file.matrix(named: "estimator.weights") == weights)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(headerLength % 8 == 0)
        #expect(try SafetensorsWriter.encode(tensors: tensors, metadata: metadata) == bytes)
    }
}
