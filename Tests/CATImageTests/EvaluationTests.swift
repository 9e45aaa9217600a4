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
}
