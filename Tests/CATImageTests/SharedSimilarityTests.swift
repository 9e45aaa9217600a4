import CATImage
import CATImageCore
import Foundation
import Testing

/// Ensemble members on the same stored features compute their similarities once (``EnsembleEstimator``), and the
/// router file stores an array held under several names once (`aliases`).
@Suite("Shared similarities: ensemble members on the same features, stored once")
struct SharedSimilarityTests {
    static let spec = try! EstimatorSpec.parseList(
        "kernel:tau=0.05+krr+knn:k=20+ridge:alpha=1+krr:layer=4+kernel:layer=4:tau=0.1+ridge:layer=4")[0]

    static func fitted() throws -> EnsembleEstimator {
        let estimator = try spec.fit(LayerEstimatorTests.training(Array(0..<400)))
        return try #require(estimator as? EnsembleEstimator)
    }

    /// Each member's own prediction, averaged in member order.
    static func plainAverage(_ ensemble: EnsembleEstimator, _ input: EstimatorInput) -> [[Double]] {
        let outputs = ensemble.members.map { $0.predict(input) }
        return outputs[0].indices.map { i in
            outputs[0][i].indices.map { m in outputs.reduce(0) { $0 + $1[i][m] } / Double(outputs.count) }
        }
    }

    /// A router trained on the first `prompts` prompts (with layer 4's means) and written to a temporary file.
    static func writtenRouter(_ spec: EstimatorSpec, prompts: Int = 200, name: String) throws -> (
        router: Router, path: String
    ) {
        let problem = LayerEstimatorTests.problem
        let indices = Array(0..<prompts)
        let router = try RouterTrainer.train(
            dataset: problem.dataset.subset(indices), features: problem.features.rows(at: indices),
            layerMeans: [4: problem.layer.rows(at: indices)], encoder: problem.encoder, estimator: spec)
        let path = temporaryPath("\(name).catimage")
        try router.write(to: path)
        return (router, path)
    }

    static func close(_ a: [[Double]], _ b: [[Double]]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { zip($0, $1).allSatisfy { abs($0 - $1) <= 1e-9 * max(1, abs($1)) } }
    }

    @Test("kernel, krr and kNN on one view share one similarity computation; ridge and the other view do not")
    func membersOnTheSameFeaturesAreGrouped() throws {
        let ensemble = try Self.fitted()
        // Members: 0 kernel, 1 krr, 2 kNN (sentence features), 3 ridge, 4 krr@4, 5 kernel@4, 6 ridge@4.
        #expect(ensemble.sharedSimilarityGroups == [[0, 1, 2], [4, 5]])
    }

    @Test("an ensemble sharing similarities predicts the plain average of its members, one prompt or many")
    func sharedSimilaritiesPredictTheAverage() throws {
        let ensemble = try Self.fitted()
        // 3 prompts (groups side by side) and 600 (two 512-prompt similarity blocks, groups in turn).
        for range in [400..<403, 0..<600] {
            let input = LayerEstimatorTests.training(Array(range)).input
            #expect(Self.close(ensemble.predict(input), Self.plainAverage(ensemble, input)))
        }
    }

    @Test("a router file stores features held by several members once, and the loaded members share them again")
    func routerFileStoresSharedFeaturesOnce() throws {
        let problem = LayerEstimatorTests.problem
        let (router, path) = try Self.writtenRouter(Self.spec, prompts: 400, name: "shared")

        let file = try SafetensorsFile(contentsOf: path)
        #expect(file.metadata["version"] == "3")
        let aliases = try JSONDecoder().decode([String: String].self, from: Data((file.metadata["aliases"] ?? "").utf8))
        // krr's and kNN's features are the kernel's, kernel@4's are krr@4's; kNN and kernel@4 store the kernel's
        // targets (ridge stores no features; equal target means, 3 values, are stored under each name).
        #expect(
            aliases == [
                "estimator.member1.features": "estimator.member0.features",
                "estimator.member2.features": "estimator.member0.features",
                "estimator.member5.features": "estimator.member4.features",
                "estimator.member2.targets": "estimator.member0.targets",
                "estimator.member5.targets": "estimator.member0.targets",
            ])
        #expect(file.tensorNames.filter { $0.hasSuffix(".features") }.count == 2)

        let loaded = try Router.load(contentsOf: path, encoder: problem.encoder)
        let ensemble = try #require(loaded.estimator as? EnsembleEstimator)
        #expect(ensemble.sharedSimilarityGroups == [[0, 1, 2], [4, 5]])
        let prompts = (400..<450).map { problem.dataset.prompts[$0].text }
        #expect(loaded.predictQualities(for: prompts) == router.predictQualities(for: prompts))
        #expect(loaded.decide(prompts: prompts) == router.decide(prompts: prompts))

        // Without a shared array the file stays version 2, which older builds read.
        let plainPath = try Self.writtenRouter(.ensemble([.kernel(tau: 0.05), .ridge(alpha: 1)]), name: "plain").path
        let plainFile = try SafetensorsFile(contentsOf: plainPath)
        #expect(plainFile.metadata["version"] == "2" && plainFile.metadata["aliases"] == nil)
    }

    @Test("an alias to a missing tensor, over a stored one, or not JSON makes the router file corrupt, not a crash")
    func badAliasesAreCorrupt() throws {
        let problem = LayerEstimatorTests.problem
        let path = try Self.writtenRouter(.ensemble([.kernel(tau: 0.05), .krr(tau: 0.2, alpha: 1)]), name: "aliased")
            .path
        let file = try SafetensorsFile(contentsOf: path)
        var tensors: [String: SafetensorsTensor] = [:]
        for name in file.tensorNames { tensors[name] = try file.tensor(named: name) }
        #expect(file.metadata["aliases"] == #"{"estimator.member1.features":"estimator.member0.features"}"#)

        for aliases in [
            #"{"estimator.member1.features":"estimator.member7.features"}"#,
            #"{"estimator.member0.targets":"estimator.member0.features"}"#, "[1, 2]", "{",
        ] {
            var metadata = file.metadata
            metadata["aliases"] = aliases
            let bad = temporaryPath("bad-alias.catimage")
            try SafetensorsWriter.encode(tensors: tensors, metadata: metadata).write(to: URL(fileURLWithPath: bad))
            do {
                _ = try Router.load(contentsOf: bad, encoder: problem.encoder)
                Issue.record("aliases \(aliases) loaded")
            } catch let error as RouterFileError {
                #expect(error.code == .corrupt, "aliases \(aliases): \(error)")
            }
        }
    }
}
