import CATImage
import CATImageCore
import Foundation
import Testing

@Suite("Stacked estimator")
struct StackEstimatorTests {
    /// True quality `[N][M]`, costs `[N][M]`, and two members' predictions: one is the truth plus a little
    /// noise, the other is pure noise of the same spread.
    static func informativeAndNoise(prompts: Int, withCost: Bool) -> (data: TrainingSet, predictions: [[[Double]]]) {
        var random = SeededGenerator(seed: 11)
        let m = 3
        let quality = (0..<prompts).map { _ in (0..<m).map { _ in random.nextGaussian() } }
        let costs = (0..<prompts).map { _ in [1.0, 2.0, 4.0].map { $0 * (0.9 + 0.2 * random.nextUnit()) } }
        let informative = quality.map { row in row.map { $0 + 0.2 * random.nextGaussian() } }
        let noise = quality.map { row in row.map { _ in random.nextGaussian() } }
        let data = TrainingSet(
            features: Matrix(rows: prompts, columns: 1), targets: quality, costs: withCost ? costs : nil)
        return (data, [informative, noise])
    }

    @Test(
        "weights learned by the routing objective are near 1 on an informative member and near 0 on a noise member",
        arguments: [true, false])
    func informativeMemberWins(withCost: Bool) throws {
        let (data, predictions) = Self.informativeAndNoise(prompts: 600, withCost: withCost)
        let weights = StackEstimator.learnWeights(predictions, data: data)
        #expect(weights.count == 3)
        for row in weights {
            #expect(abs(row.reduce(0, +) - 1) < 1e-9, "weights \(row) do not sum to one")
            #expect(row[0] >= 0.79 && row[1] <= 0.21, "weights \(weights)")
        }
        // Swapping the members swaps the weights.
        let swapped = StackEstimator.learnWeights(predictions.reversed(), data: data)
        #expect(swapped.allSatisfy { $0[1] >= 0.79 }, "weights \(swapped)")
    }

    @Test("shrinkage is learned when the members disagree exactly where they are wrong, and pulls toward the mean")
    func shrinkageWhereMembersDisagree() throws {
        var random = SeededGenerator(seed: 5)
        let n = 600
        let offsets = [0.5, 0.0, -0.5]
        let quality = (0..<n).map { _ in offsets.map { $0 + random.nextGaussian() } }
        // Both members are right (and agree) on the first half; on the second half each is its own noise.
        var first: [[Double]] = []
        var second: [[Double]] = []
        for i in 0..<n {
            if i < n / 2 {
                let shared = quality[i].map { $0 + 0.1 * random.nextGaussian() }
                first.append(shared)
                second.append(shared)
            } else {
                first.append(offsets.map { $0 + 2 * random.nextGaussian() })
                second.append(offsets.map { $0 + 2 * random.nextGaussian() })
            }
        }
        let data = TrainingSet(features: Matrix(rows: n, columns: 1), targets: quality)
        let weights = [[Double]](repeating: [0.5, 0.5], count: 3)
        let shrinkage = StackEstimator.learnShrinkage([first, second], weights: weights, data: data)
        #expect(shrinkage.strength > 0, "no shrinkage learned")
        let prior = quality.columnMeans(width: 3)
        for (a, b) in zip(shrinkage.prior, prior) { #expect(abs(a - b) < 1e-5) }
        // A prompt the members disagree on moves toward the prior; one they agree on does not move.
        let combined = [first[n - 1].indices.map { (first[n - 1][$0] + second[n - 1][$0]) / 2 }, first[0]]
        let shrunk = shrinkage.apply(combined, predictions: [[first[n - 1], first[0]], [second[n - 1], second[0]]])
        for g in 0..<3 {
            #expect(abs(shrunk[0][g] - prior[g]) < abs(combined[0][g] - prior[g]))
            #expect(abs(shrunk[1][g] - combined[1][g]) < 1e-12)
        }
    }

    @Test("a fitted stack leans on a member that reads the prompt over the per-generator mean, and beats the mean")
    func fittedStackPrefersSignal() throws {
        let problem = SyntheticProblem(prompts: 600)
        let all = Array(0..<problem.dataset.promptCount)
        let data = TrainingSet(
            features: problem.features, targets: problem.dataset.qualityRows(all),
            costs: problem.dataset.costRows(all))
        let spec = EstimatorSpec.stack(StackOptions(members: [.kernel(tau: 0.1), .mean], folds: 4))
        let stack = try #require(try spec.fit(data, seed: 1) as? StackEstimator)
        #expect(stack.spec == spec)
        #expect(stack.weights.allSatisfy { $0[0] >= 0.69 }, "weights \(stack.weights)")
        // Predictions are the weighted members' predictions.
        let input = EstimatorInput(features: problem.features.rows(at: [0, 1, 2]))
        let parts = stack.members.map { $0.predict(input) }
        let predicted = stack.predict(input)
        for i in 0..<3 {
            for g in 0..<3 {
                let expected = stack.weights[g][0] * parts[0][i][g] + stack.weights[g][1] * parts[1][i][g]
                #expect(abs(predicted[i][g] - expected) < 1e-9)
            }
        }
    }

    @Test("a router file with a stack round-trips: same weights, same decisions")
    func roundTrip() throws {
        let spec = EstimatorSpec.stack(
            StackOptions(members: [.kernel(tau: 0.1), .ridge(alpha: 1), .mean], folds: 3, shrink: true))
        let (router, test) = try RouterTests.trainedRouter(spec, lambda: .budget(2.5))
        let path = temporaryPath("stack-router.catimage")
        try router.write(to: path)
        let loaded = try Router.load(contentsOf: path, encoder: RouterTests.problem.encoder)
        #expect(loaded.fileConfig == router.fileConfig)
        let original = try #require(router.estimator as? StackEstimator)
        let restored = try #require(loaded.estimator as? StackEstimator)
        #expect(restored.weights == original.weights)
        #expect(restored.shrinkage == original.shrinkage)
        #expect(restored.spec == spec)
        let prompts = test.prefix(50).map { RouterTests.problem.dataset.prompts[$0].text }
        #expect(loaded.decide(prompts: prompts) == router.decide(prompts: prompts))
        // Arrays of another shape are refused, not misread.
        var tensors = original.tensors()
        tensors["stackWeights"] = EstimatorTensor(shape: [3, 2], values: [Float](repeating: 0.5, count: 6))
        #expect(throws: EstimatorError.self) { try spec.restore(tensors) }
        tensors["stackWeights"] = nil
        #expect(throws: EstimatorError.self) { try spec.restore(tensors) }
    }

    @Test("stack specs parse from the command line, members may be ensembles, and survive JSON")
    func parse() throws {
        let specs = try EstimatorSpec.parseList(
            "knn:k=5, stack(kernel:tau=0.05,ridge:alpha=10), stack(kernel:tau=0.05+ridge:alpha=10,mean,folds=3,steps=20),"
                + " stack(kernel:tau=0.05,ridge:alpha=10)+knn:k=9, stack, stack(knn:k=50,ridge,shrink)")
        #expect(specs.count == 6)
        #expect(specs[0] == .knn(k: 5, weighted: false))
        #expect(specs[1] == .stack(StackOptions(members: [.kernel(tau: 0.05), .ridge(alpha: 10)])))
        #expect(
            specs[2]
                == .stack(
                    StackOptions(
                        members: [.ensemble([.kernel(tau: 0.05), .ridge(alpha: 10)]), .mean], folds: 3, steps: 20)))
        #expect(
            specs[3]
                == .ensemble([
                    .stack(StackOptions(members: [.kernel(tau: 0.05), .ridge(alpha: 10)])), .knn(k: 9, weighted: false),
                ]))
        #expect(specs[4] == .stack(StackOptions(members: [.kernel(tau: 0.1), .ridge(alpha: 10)])))
        #expect(
            specs[5] == .stack(StackOptions(members: [.knn(k: 50, weighted: false), .ridge(alpha: 10)], shrink: true)))
        #expect(specs[1].description == "stack(kernel(tau=0.05),ridge(alpha=10))")
        #expect(specs[5].description == "stack(knn(k=50),ridge(alpha=10),shrink)")
        #expect(specs[1].kind == "stack" && specs[1].reads == .features)
        let json = try JSONEncoder().encode(specs[2])
        #expect(try JSONDecoder().decode(EstimatorSpec.self, from: json) == specs[2])
    }

    @Test(
        "bad stack specs are refused with an error naming the problem",
        arguments: [
            ("stack(kernel:tau=0.05)", "at least two members"),
            ("stack(transformer,ridge)", "cannot hold a transformer"),
            ("stack(auto,ridge)", "not 'auto'"),
            ("stack(kernel,ridge", "write a stack as stack("),
            ("stack(kernel,stack(ridge,mean))", "write a stack as stack("),
            ("stack(kernel,,ridge)", "empty stack member"),
            ("stack(kernel,ridge,folds=1)", "at least 2 inner folds"),
            ("stack(kernel,ridge,folds=x)", "folds=x is not a whole number"),
            ("stack(kernel,ridge,steps=0)", "1 ≤ steps ≤ 100"),
            ("stack(kernel,forest)", "unknown estimator 'forest'"),
        ])
    func badSpecs(text: String, message: String) {
        expectParseError(text, contains: message)
    }

    @Test("fitting a stack with one member is refused")
    func fitRefusesOneMember() throws {
        let data = TrainingSet(
            features: Matrix(rows: 20, columns: 2), targets: [[Double]](repeating: [1, 2], count: 20))
        #expect(throws: EstimatorError.self) {
            try EstimatorSpec.stack(StackOptions(members: [.ridge(alpha: 1)])).fit(data)
        }
    }
}
