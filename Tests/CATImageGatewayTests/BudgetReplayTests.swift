import CATImage
import CATImageCore
import CATImageGateway
import Foundation
import Testing

@Suite("Budget controller")
struct BudgetReplayTests {
    @Test("the solved λ is the smallest whose routing meets the budget")
    func solveLambdaMeetsBudget() {
        // Two generators, cheap (cost 1) and dear (cost 3); prompt i gains i/10 quality from the dear one.
        let rows = (1...10).map { [0.0, Double($0) / 10] }
        let costs = [1.0, 3.0]
        // Budget 2: half the prompts may go to the dear generator: those gaining 0.6...1.0.
        let lambda = BudgetController.solveLambda(rows: rows, costs: costs, budget: 2)
        #expect(BudgetController.meanCost(rows: rows, costs: costs, lambda: lambda) == 2)
        #expect(BudgetController.meanCost(rows: rows, costs: costs, lambda: lambda * 0.99) > 2)
        #expect(BudgetController.solveLambda(rows: rows, costs: costs, budget: 5) == 0)
        let cheapOnly = BudgetController.solveLambda(rows: rows, costs: costs, budget: 0.5)
        #expect(BudgetController.meanCost(rows: rows, costs: costs, lambda: cheapOnly) == 1)
    }

    /// Replays CEMS prompts (not used to train the router) in an order whose difficulty drifts from easy to hard,
    /// one decision at a time through the controller, as the gateway does.
    @Test("on a drifting CEMS replay the realised mean cost holds the target, at the offline curve's quality")
    func driftingReplay() async throws {
        let dataset = try await TestRouter.cems()
        let router = try await TestRouter.shared()
        let names = router.generatorNames
        let columns = names.map { name in dataset.generatorNames.firstIndex(of: name) }
        let generatorColumns = try #require(columns as? [Int], "router generators must be CEMS generators")
        let costs = router.generatorCosts
        let replayIndices = try TestRouter.replayPrompts(count: 2000)

        // Difficulty: how much the best generator for the prompt gains over the cheapest (true scores), blurred a
        // little so the order is a drift, not a sort.
        let cheap = costs.indices.min { costs[$0] < costs[$1] } ?? 0
        func truth(_ i: Int, _ m: Int) -> Double { dataset.quality(prompt: i, generator: generatorColumns[m]) }
        var generator = SeededGenerator(seed: 7)
        let keyed = replayIndices.map { i in
            let gain = (costs.indices.map { truth(i, $0) }.max() ?? 0) - truth(i, cheap)
            return (i, gain + Double.random(in: -0.25...0.25, using: &generator))
        }
        let order = keyed.sorted { $0.1 < $1.1 }.map(\.0)
        let texts = order.map { dataset.prompts[$0].text }
        let predicted = try await onOwnThread { router.predictQualities(for: texts) }

        let target = 0.35
        var settings = GatewayConfig.Budget(targetMeanCost: target)
        settings.window = 200
        let initial = router.lambda(forBudget: target) ?? router.defaultLambda
        let controller = BudgetController(costs: costs, settings: settings, initialLambda: initial)
        var onlineCost = 0.0
        var onlineQuality = 0.0
        var fixedCost = 0.0
        var quarterCosts = [Double](repeating: 0, count: 4)
        var fixedQuarterCosts = [Double](repeating: 0, count: 4)
        for (step, row) in predicted.enumerated() {
            let choice = RoutingRule.choose(predicted: row, costs: costs, lambda: controller.lambda)
            controller.record(predicted: row, realisedCost: costs[choice])
            onlineCost += costs[choice]
            onlineQuality += truth(order[step], choice)
            quarterCosts[step * 4 / order.count] += costs[choice]
            let fixedChoice = RoutingRule.choose(predicted: row, costs: costs, lambda: initial)
            fixedCost += costs[fixedChoice]
            fixedQuarterCosts[step * 4 / order.count] += costs[fixedChoice]
        }
        let n = Double(order.count)
        let realised = onlineCost / n
        // Overall: within 3% of the target.
        #expect(abs(realised - target) / target < 0.03, "realised mean cost \(realised) vs target \(target)")
        // Each quarter of the drift: within 5% of the target (the fixed λ's quarters are printed for comparison).
        let quarterMeans = quarterCosts.map { $0 / (n / 4) }
        let fixedQuarterMeans = fixedQuarterCosts.map { $0 / (n / 4) }
        for (quarter, mean) in quarterMeans.enumerated() {
            #expect(abs(mean - target) / target < 0.05, "quarter \(quarter + 1): mean cost \(mean)")
        }

        // The offline curve on the same prompts: a λ sweep with the same predictions, scored with true qualities.
        var curve: [(cost: Double, quality: Double)] = []
        for step in 0...400 {
            let lambda = pow(10, -4 + Double(step) / 50)
            var cost = 0.0
            var quality = 0.0
            for (k, row) in predicted.enumerated() {
                let m = RoutingRule.choose(predicted: row, costs: costs, lambda: lambda)
                cost += costs[m]
                quality += truth(order[k], m)
            }
            curve.append((cost / n, quality / n))
        }
        curve.sort { $0.cost < $1.cost }
        let offline = Self.interpolate(curve, at: realised)
        let quality = onlineQuality / n
        let span = (curve.map(\.quality).max() ?? 0) - (curve.map(\.quality).min() ?? 0)
        // Holding the budget in every window forgoes some of the offline λ's freedom to spend unevenly across the
        // drift; the loss must stay within 10% of the curve's quality span at the realised cost.
        #expect(quality >= offline - 0.10 * span, "online quality \(quality), offline \(offline), span \(span)")
        print(
            "replay: target \(target), realised \(realised) (quarters \(quarterMeans)), fixed-λ \(fixedCost / n) "
                + "(quarters \(fixedQuarterMeans)); quality online \(quality), offline \(offline) (span \(span))")
    }

    static func interpolate(_ curve: [(cost: Double, quality: Double)], at cost: Double) -> Double {
        guard let first = curve.first, let last = curve.last else { return .nan }
        if cost <= first.cost { return first.quality }
        if cost >= last.cost { return last.quality }
        for (a, b) in zip(curve, curve.dropFirst()) where a.cost <= cost && cost <= b.cost {
            if b.cost == a.cost { return max(a.quality, b.quality) }
            return a.quality + (b.quality - a.quality) * (cost - a.cost) / (b.cost - a.cost)
        }
        return last.quality
    }
}
