import Foundation
import Testing

@testable import CATImageEncoder

/// Where the model-dependent tests find their inputs.
enum TestPaths {
    /// The package root, from this file's path.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// `../shared/golden` beside the checkout (env `CATIMAGE_GOLDEN` overrides).
    static var goldenDirectory: String {
        if let path = ProcessInfo.processInfo.environment["CATIMAGE_GOLDEN"], !path.isEmpty { return path }
        return ((packageRoot as NSString).deletingLastPathComponent as NSString).appendingPathComponent(
            "shared/golden")
    }

    /// The MiniLM folder: `CATIMAGE_MODEL_DIR`, else the default cache folder that `catimage model fetch` fills.
    static var modelDirectory: String {
        if let path = ProcessInfo.processInfo.environment["CATIMAGE_MODEL_DIR"], !path.isEmpty { return path }
        return ModelStore.defaultModelDirectory
    }
}

/// One reference output of sentence-transformers for all-MiniLM-L6-v2.
struct GoldenExample: Decodable, Sendable {
    let prompt: String
    let inputIDs: [Int32]
    let embedding: [Float]

    enum CodingKeys: String, CodingKey {
        case prompt
        case inputIDs = "input_ids"
        case embedding
    }
}

/// The model and golden vectors, loaded once for every test that needs them.
enum Fixtures {
    static let golden: Result<[GoldenExample], FixtureError> = {
        let path = (TestPaths.goldenDirectory as NSString).appendingPathComponent("minilm_golden.json")
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(FixtureError("cannot read the golden vectors at \(path) (set CATIMAGE_GOLDEN)"))
        }
        do {
            return .success(try JSONDecoder().decode([GoldenExample].self, from: data))
        } catch {
            return .failure(FixtureError("\(path): \(error)"))
        }
    }()

    static let encoder: Result<SentenceEncoder, FixtureError> = {
        let directory = TestPaths.modelDirectory
        do {
            return .success(try SentenceEncoder(directory: directory, precision: .fp32))
        } catch {
            return .failure(
                FixtureError(
                    "cannot load the MiniLM model from \(directory): \(error). Run `catimage model fetch` "
                        + "(or set CATIMAGE_MODEL_DIR to a sentence-transformers folder)."))
        }
    }()
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Largest absolute difference between two vectors of equal length.
func maxAbsoluteDifference(_ a: some Collection<Float>, _ b: some Collection<Float>) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// A temporary folder removed when the test ends.
final class TemporaryFolder {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "catimage-enc-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}
