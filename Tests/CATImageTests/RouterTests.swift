import CATImage
import CATImageCore
import Foundation
import Testing

@Suite("Router, calibration and router file")
struct RouterTests {
    static let problem = SyntheticProblem(prompts: 1000)

    static func trainedRouter(
        _ spec: EstimatorSpec = .ridge(alpha: 1), lambda: RouterTrainer.LambdaRequest = .fixed(0)
    ) throws -> (router: Router, test: [Int]) {
        let split = DataSplit.trainTest(count: problem.dataset.promptCount, testFraction: 0.4, seed: 5)
        let router = try RouterTrainer.train(
            dataset: problem.dataset.subset(split.train), features: problem.features.rows(at: split.train),
            encoder: problem.encoder, estimator: spec, lambda: lambda)
        return (router, split.test)
    }

    @Test("a budget calibrated on training data is met on held-out prompts within 5 % of the cost range")
    func calibrationMeetsBudget() throws {
        let budget = 2.0
        let (router, test) = try Self.trainedRouter(lambda: .budget(budget))
        #expect(router.defaultLambda == router.lambda(forBudget: budget))
        let decisions = router.decide(prompts: test.map { Self.problem.dataset.prompts[$0].text })
        let names = router.generators.map(\.name)
        var cost = 0.0
        for (i, decision) in zip(test, decisions) {
            cost += Self.problem.dataset.cost(prompt: i, generator: names.firstIndex(of: decision.generator)!)!
        }
        cost /= Double(test.count)
        let range = 4.0 - 1.0
        #expect(abs(cost - budget) <= 0.05 * range, "held-out mean cost \(cost) for budget \(budget)")
    }

    @Test("a target quality picks the cheapest λ that reaches it")
    func calibrationTargetQuality() throws {
        let (router, _) = try Self.trainedRouter()
        let best = try #require(router.calibration.map(\.quality).max())
        let target = best - 0.2
        let lambda = try #require(router.lambda(forQuality: target))
        let row = try #require(router.calibration.first { $0.lambda == lambda })
        #expect(row.quality >= target)
        #expect(router.calibration.allSatisfy { $0.lambda <= lambda || $0.quality < target })
        #expect(router.lambda(forQuality: best + 1) == nil)
        #expect(router.lambda(forBudget: 0.1) == nil)
    }

    @Test("decisions rank every generator and follow λ")
    func decisions() throws {
        let (router, test) = try Self.trainedRouter()
        let prompt = Self.problem.dataset.prompts[test[0]].text
        let atZero = router.decide(prompt: prompt, lambda: 0)
        #expect(atZero.candidates.count == 3)
        #expect(atZero.generator == atZero.candidates.max { $0.predictedQuality < $1.predictedQuality }!.generator)
        let cheapest = router.generators.min { $0.cost! < $1.cost! }!.name
        #expect(router.decide(prompt: prompt, lambda: 1e6).generator == cheapest)
    }

    @Test(
        "a router file round-trips: same configuration, same decisions",
        arguments: [
            EstimatorSpec.knn(k: 20, weighted: true), .kernel(tau: 0.1), .ridge(alpha: 1),
            .mlp(MLPOptions(hidden: [8], maxEpochs: 3)), .ensemble([.kernel(tau: 0.1), .ridge(alpha: 1)]), .mean,
            .lexical(LexicalOptions(minCount: 1)),
            .ensemble([.kernel(tau: 0.1), .lexical(LexicalOptions(minCount: 1))]),
        ])
    func roundTrip(spec: EstimatorSpec) throws {
        let (router, test) = try Self.trainedRouter(spec, lambda: .budget(2.5))
        let path = temporaryPath("router.catimage")
        try router.write(to: path)
        let loaded = try Router.load(contentsOf: path, encoder: Self.problem.encoder)
        #expect(loaded.fileConfig == router.fileConfig)
        let prompts = test.prefix(50).map { Self.problem.dataset.prompts[$0].text }
        #expect(loaded.decide(prompts: prompts) == router.decide(prompts: prompts))
        #expect(loaded.defaultLambda == router.defaultLambda)
    }

    @Test("loading with another encoder is refused")
    func wrongEncoder() throws {
        let (router, _) = try Self.trainedRouter()
        let path = temporaryPath("router.catimage")
        try router.write(to: path)
        var other = Self.problem.encoder
        other.weightsDigest = "digest-b"
        #expect(throws: RouterFileError.self) { try Router.load(contentsOf: path, encoder: other) }
        do {
            _ = try Router.load(contentsOf: path, encoder: other)
        } catch let error as RouterFileError {
            #expect(error.code == .encoderMismatch)
            #expect(error.description.contains("digest-a"))
        }
    }

    @Test("corrupt, truncated, foreign and newer files are clear errors")
    func badFiles() throws {
        let (router, _) = try Self.trainedRouter()
        let path = temporaryPath("router.catimage")
        try router.write(to: path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        func code(_ data: Data) throws -> RouterFileError.Code? {
            let bad = temporaryPath("bad.catimage")
            try data.write(to: URL(fileURLWithPath: bad))
            do {
                _ = try Router.load(contentsOf: bad, encoder: Self.problem.encoder)
                return nil
            } catch let error as RouterFileError {
                return error.code
            }
        }
        #expect(try code(Data("not a router at all".utf8)) == .corrupt)
        #expect(try code(bytes.prefix(bytes.count / 2)) == .corrupt)
        #expect(try code(Data()) == .corrupt)
        let foreign = try SafetensorsWriter.encode(tensors: ["x": SafetensorsTensor([1, 2])])
        #expect(try code(foreign) == .notARouter)
        var metadata = ["format": RouterFile.formatTag, "version": "99", "config": "{}"]
        #expect(try code(SafetensorsWriter.encode(tensors: [:], metadata: metadata)) == .newerVersion)
        metadata["version"] = "1"
        #expect(try code(SafetensorsWriter.encode(tensors: [:], metadata: metadata)) == .corrupt)
        #expect(throws: RouterFileError.self) {
            try Router.load(contentsOf: temporaryPath("missing.catimage"), encoder: Self.problem.encoder)
        }
    }
}
