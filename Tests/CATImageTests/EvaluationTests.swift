import CATImage
import Foundation
import Testing

@Suite("Router evaluation")
struct EvaluationTests {
    @Test("the JSON report carries the stable field names")
    func jsonFieldNames() throws {
        let problem = SyntheticProblem(prompts: 200)
        let report = try RouterEvaluation.run(
            dataset: problem.dataset, features: problem.features, estimators: [.knn(k: 10, weighted: false), .mean],
            split: .folds(3, seed: 1))
        let data = try JSONEncoder().encode(report)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        for key in ["bestSingle", "oracle", "zeroRouter", "router", "curve", "folds", "std", "routers", "shares"] {
            #expect(json[key] != nil, "missing \(key)")
        }
        let best = try #require(json["bestSingle"] as? [String: Any])
        #expect(Set(best.keys) == ["generator", "quality", "cost"])
        let oracle = try #require(json["oracle"] as? [String: Any])
        #expect(Set(oracle.keys) == ["area", "maxQuality"])
        #expect((json["zeroRouter"] as? [String: Any])?["area"] != nil)
        let router = try #require(json["router"] as? [String: Any])
        for key in ["estimator", "area", "gapRecovered", "qualityGain", "costSaving", "maxQuality", "apgr", "aiq"] {
            #expect(router.keys.contains(key), "router lacks \(key)")
        }
        let curve = try #require(json["curve"] as? [[String: Any]])
        #expect(Set(curve[0].keys) == ["lambda", "cost", "quality"])
        #expect((json["folds"] as? [Any])?.count == 3)
        let std = try #require(json["std"] as? [String: Any])
        #expect(std["gapRecovered"] != nil && std["area"] != nil)
        #expect((json["routers"] as? [Any])?.count == 2)
    }

    @Test("k-fold evaluation tests every prompt once and reports spreads")
    func foldsCoverEveryPrompt() throws {
        let problem = SyntheticProblem(prompts: 150)
        let report = try RouterEvaluation.run(
            dataset: problem.dataset, features: problem.features, estimators: [.ridge(alpha: 1)],
            split: .folds(5, seed: 2))
        #expect(report.folds.map(\.testCount).reduce(0, +) == 150)
        #expect(report.std.gapRecovered != nil)
        #expect(report.router.gapRecovered != nil)
        // The oracle bounds every router.
        #expect(report.folds.allSatisfy { ($0.router.area ?? 0) <= ($0.oracle.area ?? 0) + 1e-9 })
    }

    @Test("without costs the evaluation is quality-only: gain at λ = 0 and share of the oracle's gain")
    func qualityOnly() throws {
        let problem = SyntheticProblem(prompts: 300, withCost: false)
        let report = try RouterEvaluation.run(
            dataset: problem.dataset, features: problem.features, estimators: [.knn(k: 10, weighted: false)],
            split: .trainTest(testFraction: 0.2, seeds: [1, 2]))
        #expect(report.mode == "quality-only")
        #expect(report.router.area == nil && report.oracle.area == nil)
        #expect(report.router.qualityGain > 0)
        let share = try #require(report.router.oracleGainShare)
        #expect(share > 0 && share <= 1)
        #expect(report.folds.count == 2)
    }

    @Test("a learning curve fits each share of the training parts, tests on whole parts, and gains with more prompts")
    func learningCurveGrowsWithPrompts() throws {
        let problem = SyntheticProblem(prompts: 600, clusters: 24, noise: 1.0)
        let curve = try LearningCurve.run(
            dataset: problem.dataset, features: problem.features, estimators: [.knn(k: 10, weighted: false), .mean],
            split: .folds(3, seed: 4), shares: [1, 0.05])
        #expect(curve.points.map(\.share) == [0.05, 1])
        #expect(curve.points.map(\.trainPrompts) == [20, 400])
        #expect(curve.protocol.trainShare == nil && curve.protocol.folds == 3)
        let knn = curve.points.map { $0.routers[0].router.gapRecovered ?? -1 }
        #expect(knn[1] > knn[0] + 0.05, "20 prompts cannot place 24 clusters; 400 can: \(knn)")
        let gains = try #require(curve.gainPerDoubling)
        #expect(gains.count == 2 && gains[0] > 0)
        let report = try RouterEvaluation.run(
            dataset: problem.dataset, features: problem.features, estimators: [.mean], split: .folds(3, seed: 4),
            trainShare: 0.05)
        #expect(report.folds.map(\.trainCount) == [20, 20, 20] && report.folds.map(\.testCount).reduce(0, +) == 600)
        #expect(
            HTMLReport.protocolText(report) == "3-fold cross-validation (seed 4), fitted on 5 % of each training part")
        #expect(throws: EstimatorError.self) {
            try LearningCurve.run(
                dataset: problem.dataset, features: problem.features, estimators: [.mean], split: .folds(3, seed: 4),
                shares: [0.5, 1.5])
        }
    }
}
