import CATImage
import CATImageCore
import CATImageEncoder
import CATImageGateway
import CATImageTestSupport
import Foundation

/// A real router for the gateway tests: kNN over MiniLM embeddings, trained by `RouterTrainer` on a seeded slice of
/// CEMS (CLIP scores, per-prompt seconds as cost), written to a router file and loaded back as `catimage serve`
/// loads it. Built once per test process.
enum TestRouter {
    static let trainingCount = 1500
    static let seed: UInt64 = 2024

    static let built: Result<(router: Router, path: String), any Error> = Result { try build() }

    /// The shared router, built (once) on a thread of its own: see ``onOwnThread(name:_:)``.
    static func shared() async throws -> Router { try await onOwnThread { try built.get().router } }

    /// The router file the shared router was loaded from.
    static func path() async throws -> String { try await onOwnThread { try built.get().path } }

    /// CEMS prompt indices in a seeded order: the first `trainingCount` train the router.
    static var shuffledIndices: [Int] {
        var generator = SeededGenerator(seed: seed)
        var indices = Array(0..<10_000)
        indices.shuffle(using: &generator)
        return indices
    }

    /// CEMS prompt indices for replays, disjoint from the router's training prompts.
    static func replayPrompts(count: Int) throws -> [Int] {
        precondition(trainingCount + count <= 10_000, "replay and training prompts must not overlap")
        return Array(shuffledIndices.suffix(count))
    }

    /// The folder holding the router file, one per test process.
    static let directoryPath = FileManager.default.temporaryDirectory.appendingPathComponent(
        "catimage-gateway-router-\(ProcessInfo.processInfo.processIdentifier)"
    ).path

    /// What the shared router was trained on, for tests that train variants of it (same prompts, same costs).
    struct Material: Sendable {
        var training: RoutingDataset
        var features: Matrix
        var encoder: SentenceEncoder
        var modelDirectory: String
    }

    static let material: Result<Material, any Error> = Result {
        let dataset = try cemsDataset.get()
        let training = dataset.subset(Array(shuffledIndices.prefix(trainingCount)))
        let modelDirectory = try miniLMDirectory()
        let encoder = try SentenceEncoder(directory: modelDirectory)
        return Material(
            training: training, features: encoder.embed(training.prompts.map(\.text)), encoder: encoder,
            modelDirectory: modelDirectory)
    }

    static func trainingMaterial() async throws -> Material { try await onOwnThread { try material.get() } }

    /// CEMS with CLIP scores, parsed once per test process (``TestData/cems()`` on a thread of its own).
    static func cems() async throws -> RoutingDataset { try await onOwnThread { try cemsDataset.get() } }
    private static let cemsDataset: Result<RoutingDataset, any Error> = Result { try TestData.cems() }

    private static func build() throws -> (router: Router, path: String) {
        let material = try self.material.get()
        let (training, features, encoder, modelDirectory) = (
            material.training, material.features, material.encoder, material.modelDirectory
        )
        let trained = try RouterTrainer.train(
            dataset: training, features: features, encoder: encoder, estimator: .knn(k: 25, weighted: true),
            lambda: .budget(0.4), calibrationFolds: 5, seed: seed)
        let directory = URL(fileURLWithPath: directoryPath)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // The tests read the file until the process ends; remove it then, so runs leave nothing in /tmp.
        atexit { try? FileManager.default.removeItem(atPath: TestRouter.directoryPath) }
        let path = directory.appendingPathComponent("cems-knn.catimage").path
        try trained.write(to: path)
        return (try Gateway.loadRouter(contentsOf: path, modelDirectory: modelDirectory), path)
    }
}
