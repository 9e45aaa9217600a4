import CATImage
import CATImageCore
import Foundation
import Testing

@Suite("Kernel ridge estimator (krr)")
struct KernelRidgeEstimatorTests {
    static let problem = SyntheticProblem(prompts: 300)

    static func trainingSet(_ problem: SyntheticProblem, rows: Range<Int>) -> TrainingSet {
        let indices = Array(rows)
        return TrainingSet(
            features: problem.features.rows(at: indices),
            targets: problem.dataset.qualityRows(indices))
    }

    @Test("conjugate gradients find the coefficients a direct Cholesky solve of (K + αI) A = Y finds")
    func coefficientsMatchADirectSolve() throws {
        let data = Self.trainingSet(Self.problem, rows: 0..<200)
        let (tau, alpha) = (0.2, 0.5)
        let estimator = try #require(
            try EstimatorSpec.krr(tau: tau, alpha: alpha).fit(data) as? KernelRidgeEstimator)
        let n = data.count
        let m = data.outputCount
        let x = data.features
        var gram = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                var dot = 0.0
                for d in 0..<x.columns { dot += Double(x[i, d]) * Double(x[j, d]) }
                gram[i * n + j] = exp((dot - 1) / tau) + (i == j ? alpha : 0)
            }
        }
        let scaling = TargetScaling(quality: data.targets).roundedToFloat32()
        let direct = try Cholesky.solve(
            gram, n: n, scaling.targets(fromQualities: data.targets).flatMap { $0 }, columns: m)
        let largest = direct.map(abs).max() ?? 0
        let worst = zip(estimator.coefficients.storage, direct).map { abs(Double($0) - $1) }.max() ?? .infinity
        #expect(worst < 1e-3 * max(1, largest), "largest coefficient difference \(worst) (largest \(largest))")
    }

    @Test("a prompt unlike every training prompt is predicted the training mean of each generator")
    func farPromptFallsBackToTheMean() throws {
        let data = Self.trainingSet(Self.problem, rows: 0..<200)
        let estimator = try EstimatorSpec.krr(tau: 0.05, alpha: 1).fit(data)
        // A unit vector opposite to the training prompts' mean direction: cosine ≤ 0 to nearly all of them.
        let means = data.features.columnMeans()
        let norm = means.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let query = Matrix(rows: 1, columns: means.count, storage: means.map { -$0 / norm })
        let predicted = try #require(estimator.predict(EstimatorInput(features: query)).first)
        let trainingMeans = data.targets.columnMeans(width: data.outputCount)
        for (p, mean) in zip(predicted, trainingMeans) {
            #expect(abs(p - mean) < 0.05, "\(predicted) vs \(trainingMeans)")
        }
    }

    @Test("a restored krr predicts exactly what the fitted one predicts")
    func roundTrip() throws {
        let data = Self.trainingSet(Self.problem, rows: 0..<200)
        let spec = EstimatorSpec.krr(tau: 0.2, alpha: 1)
        let fitted = try spec.fit(data)
        let restored = try spec.restore(fitted.tensors())
        let queries = EstimatorInput(features: Self.problem.features.rows(at: Array(200..<300)))
        #expect(fitted.predict(queries) == restored.predict(queries))
        var broken = fitted.tensors()
        broken["coefficients"] = EstimatorTensor(shape: [3, 1], values: [0, 0, 0])
        #expect(throws: EstimatorError.self) { try spec.restore(broken) }
    }

    @Test("krr parses with its defaults (τ 0.2, α 1) and its keys; bad values are clear errors")
    func parsing() throws {
        #expect(try EstimatorSpec.parseList("krr") == [.krr(tau: 0.2, alpha: 1)])
        #expect(
            try EstimatorSpec.parseList("krr:tau=0.5:alpha=3,kernel:tau=0.05+krr+lexical") == [
                .krr(tau: 0.5, alpha: 3),
                .ensemble([.kernel(tau: 0.05), .krr(tau: 0.2, alpha: 1), .lexical(LexicalOptions())]),
            ])
        #expect(EstimatorSpec.krr(tau: 0.2, alpha: 1).description == "krr(tau=0.2,alpha=1)")
        for bad in ["krr:tau=0", "krr:alpha=0", "krr:alpha=-1", "krr:tau=x", "krr:k=3"] {
            #expect(throws: EstimatorError.self, "\(bad)") { try EstimatorSpec.parseList(bad) }
        }
        let data = TrainingSet(features: Matrix(rows: 2, columns: 2), targets: [[1], [2]])
        #expect(throws: EstimatorError.self) { try EstimatorSpec.krr(tau: 0, alpha: 1).fit(data) }
        #expect(throws: EstimatorError.self) { try EstimatorSpec.krr(tau: 0.2, alpha: .infinity).fit(data) }
    }
}
