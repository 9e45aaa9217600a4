import CATImage
import CATImageCore
import Foundation
import Testing

/// A prompt encoder for tests: looks each prompt's feature row up in a table made by the test, and its layer
/// means up in one table per layer (an encoder with `layers` taps 0...6).
struct LookupEncoder: PromptEncoder {
    let rows: [String: [Float]]
    let dimension: Int
    var modelIdentifier = "test/lookup"
    var weightsDigest = "digest-a"
    var layers: [Int: [String: [Float]]] = [:]

    func embed(_ prompts: [String]) -> Matrix {
        Matrix(rowVectors: prompts.map { rows[$0] ?? [Float](repeating: 0, count: dimension) })
    }

    var tappableLayers: ClosedRange<Int>? { layers.isEmpty ? nil : 0...6 }

    func embed(_ prompts: [String], layerMeans: [Int]) -> (features: Matrix, layerMeans: [Int: Matrix]) {
        let means = Dictionary(
            uniqueKeysWithValues: layerMeans.map { layer in
                let table = layers[layer] ?? [:]
                return (layer, Matrix(rowVectors: prompts.map { table[$0] ?? [Float](repeating: 0, count: dimension) }))
            })
        return (embed(prompts), means)
    }
}

/// A synthetic routing problem whose prompt features carry signal: prompts fall in clusters, and each
/// generator's quality depends on the cluster (plus noise), so a prompt's neighbours predict its quality.
struct SyntheticProblem {
    var dataset: RoutingDataset
    var features: Matrix
    var encoder: LookupEncoder

    /// - Parameters:
    ///   - signal: scale of the cluster effect (0 makes features useless).
    ///   - costs: per-generator base costs; each prompt's cost varies ±10 % around it.
    init(
        prompts: Int, clusters: Int = 8, dimension: Int = 16, costs: [Double] = [1, 2, 4],
        signal: Double = 1, noise: Double = 0.3, seed: UInt64 = 7, withCost: Bool = true
    ) {
        var random = SeededGenerator(seed: seed)
        let m = costs.count
        let centers = (0..<clusters).map { _ in (0..<dimension).map { _ in random.nextGaussian() } }
        let effects = (0..<clusters).map { _ in (0..<m).map { _ in random.nextGaussian() * signal } }
        let base = (0..<m).map { Double($0) * 0.3 }
        var rows: [[Float]] = []
        var quality: [Double] = []
        var promptCosts: [Double] = []
        var texts: [String] = []
        for i in 0..<prompts {
            let cluster = random.nextInt(below: clusters)
            var x = centers[cluster].map { $0 + 0.35 * random.nextGaussian() }
            let norm = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
            x = x.map { $0 / norm }
            rows.append(x.map { Float($0) })
            for g in 0..<m {
                quality.append(base[g] + effects[cluster][g] + noise * random.nextGaussian())
                promptCosts.append(costs[g] * (0.9 + 0.2 * random.nextUnit()))
            }
            texts.append("prompt \(i)")
        }
        var dataset = RoutingDataset(
            prompts: texts.map { Prompt(id: $0, text: $0) },
            generators: (0..<m).map { Generator(name: "g\($0)") }, quality: quality,
            promptCosts: withCost ? promptCosts : nil, metric: "synthetic", source: "test", costUnit: "s")
        dataset.refreshGeneratorCostsFromPrompts()
        self.dataset = dataset
        self.features = Matrix(rowVectors: rows)
        self.encoder = LookupEncoder(
            rows: Dictionary(uniqueKeysWithValues: zip(texts, rows)), dimension: dimension)
    }
}

/// This test process's scratch folder, removed when the process exits.
let scratchFolder: URL = {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
        "catimage-router-tests-\(ProcessInfo.processInfo.processIdentifier)")
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(at: scratchFolder) }
    return folder
}()

/// A fresh temporary file path (in its own folder under ``scratchFolder``).
func temporaryPath(_ name: String) -> String {
    let folder = scratchFolder.appendingPathComponent(UUID().uuidString)
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder.appendingPathComponent(name).path
}

/// Expects parsing `text` as estimators to fail with an error whose message holds `message`.
func expectParseError(_ text: String, contains message: String) {
    do {
        _ = try EstimatorSpec.parseList(text)
        Issue.record("'\(text)' parsed")
    } catch let error as EstimatorError {
        #expect(error.message.contains(message), "'\(text)': \(error.message)")
    } catch {
        Issue.record("'\(text)': \(error)")
    }
}
