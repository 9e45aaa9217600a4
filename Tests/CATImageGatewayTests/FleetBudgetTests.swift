import Testing

@testable import CATImageGateway

@Suite("Fleet budget: one λ solved on every replica's window, weighted by traffic")
struct FleetBudgetTests {
    static let costs = [1.0, 2.0, 4.0]
    /// Prompts whose quality gain from the dearer generators grows with `k`.
    static func rows(_ count: Int, gain: Double) -> [[Double]] {
        (0..<count).map { k in
            let g = gain * Double(k + 1) / Double(count)
            return [10, 10 + 1.2 * g, 10 + 2 * g]
        }
    }

    @Test("with equal traffic the fleet λ is the λ of the two windows pooled")
    func equalTrafficPools() {
        let own = Self.rows(64, gain: 1)
        let other = Self.rows(64, gain: 3)
        let share = FleetShare(
            rows: other, rowWeights: Array(repeating: 5.0 / 64, count: 64), ownRate: 5, realisedSum: 0,
            realisedCount: 0, replicas: 1)
        let fleet = BudgetController.solveFleetLambda(
            window: own, fleet: share, costs: Self.costs, budget: 2, available: nil)
        let pooled = BudgetController.solveLambda(rows: own + other, costs: Self.costs, budget: 2)
        #expect(abs(fleet - pooled) <= 1e-6 * max(pooled, 1))
        // Not what either replica would pick on its own window: the fleet spends unevenly across them.
        let alone = BudgetController.solveLambda(rows: own, costs: Self.costs, budget: 2)
        #expect(abs(fleet - alone) > 1e-3)
    }

    @Test("a replica with three times the traffic counts three times: the same λ as its window repeated")
    func trafficWeights() {
        let own = Self.rows(40, gain: 1)
        let other = Self.rows(40, gain: 4)
        let share = FleetShare(
            rows: other, rowWeights: Array(repeating: 30.0 / 40, count: 40), ownRate: 10, realisedSum: 0,
            realisedCount: 0, replicas: 1)
        let fleet = BudgetController.solveFleetLambda(
            window: own, fleet: share, costs: Self.costs, budget: 2.2, available: nil)
        let repeated = BudgetController.solveLambda(rows: own + other + other + other, costs: Self.costs, budget: 2.2)
        #expect(abs(fleet - repeated) <= 1e-6 * max(repeated, 1))
    }

    @Test("the controller's feedback term uses the fleet's realised mean once it has a fleet share")
    func fleetFeedback() {
        var settings = GatewayConfig.Budget(targetMeanCost: 2)
        settings.window = 32
        settings.warmup = 8
        let rows = Self.rows(32, gain: 2)
        let alone = BudgetController(costs: Self.costs, settings: settings, initialLambda: 0)
        let inFleet = BudgetController(costs: Self.costs, settings: settings, initialLambda: 0)
        // The other replica overspent: 100 decisions at cost 4 against the target 2.
        inFleet.setFleet(
            FleetShare(rows: [], rowWeights: [], ownRate: 1, realisedSum: 400, realisedCount: 100, replicas: 1))
        for row in rows {
            alone.record(predicted: row, realisedCost: 2)
            inFleet.record(predicted: row, realisedCost: 2)
        }
        // The fleet's overspend lowers this replica's budget: a higher λ (cheaper routing) than alone.
        #expect(inFleet.lambda > alone.lambda)
    }
}
