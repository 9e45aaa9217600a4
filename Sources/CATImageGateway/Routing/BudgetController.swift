import CATImage
import NIOConcurrencyHelpers
import NIOCore

/// Holds a target mean cost by moving λ online as the prompt mix drifts.
///
/// The budget problem `max mean γ̂ s.t. mean cost ≤ B` has the dual `min_λ≥0 mean_i max_m (γ̂_im − λ c_m) + λ B`,
/// whose subgradient is `B − mean cost at λ`. Dual ascent on the window of the last `window` prompts converges to
/// the λ where the window's mean routed cost meets the budget; the controller finds that fixed point directly by
/// bisection (mean cost is non-increasing in λ), each time a decision enters the window. A slow feedback term then
/// shifts the window's budget by the realised cost error over the last `feedbackHorizon` decisions, so that
/// rounding (cost is a step function of λ) does not bias the realised mean.
///
/// Under faults the controller steers on what the rule *chose* among the generators that are up (their breakers
/// closed), never on what fallbacks produced: λ is solved over the live generators only, and the realised cost is
/// the chosen generator's. An outage therefore cannot raise λ toward a dead generator; it re-solves the budget over
/// the generators that can serve it.
public final class BudgetController: Sendable {
    /// A snapshot for metrics and `/healthz`.
    public struct Snapshot: Sendable, Equatable {
        public var lambda: Double
        public var target: Double?
        /// Mean realised cost over the feedback horizon (`nil` before any decision).
        public var realisedMeanCost: Double?
        public var decisions: Int
    }

    struct State {
        var lambda: Double
        /// Predicted qualities of the last `window` prompts (a ring).
        var window: [[Double]] = []
        var windowNext = 0
        /// Realised costs of the last `horizon` controlled decisions (a ring) and their sum.
        var realised: [Double] = []
        var realisedNext = 0
        var realisedSum = 0.0
        var decisions = 0
        /// Which generators were up at the last decision; λ is solved over those only.
        var available: [Bool]?
        /// The other replicas' prompt mix and spend when the budget is held for a fleet (FleetBudget.swift).
        var fleet: FleetShare?
    }

    public let costs: [Double]
    public let settings: GatewayConfig.Budget
    let state: NIOLockedValueBox<State>

    /// - Parameter initialLambda: λ until the window has `settings.warmup` prompts.
    public init(costs: [Double], settings: GatewayConfig.Budget, initialLambda: Double) {
        precondition(!costs.isEmpty, "need at least one generator")
        self.costs = costs
        self.settings = settings
        self.state = NIOLockedValueBox(State(lambda: initialLambda))
    }

    /// The λ requests without their own `lambda` or `budget` use now.
    public var lambda: Double { state.withLockedValue { $0.lambda } }

    public var snapshot: Snapshot {
        state.withLockedValue { state in
            Snapshot(
                lambda: state.lambda, target: settings.targetMeanCost,
                realisedMeanCost: state.realised.isEmpty ? nil : state.realisedSum / Double(state.realised.count),
                decisions: state.decisions)
        }
    }

    /// Records one prompt's predictions (the prompt mix) and, for decisions made at the controller's λ, the cost of
    /// the generator the rule chose; then re-solves λ when a target is set, over the generators `available` marks
    /// as up (all when `nil`).
    public func record(predicted: [Double], realisedCost: Double?, available: [Bool]? = nil) {
        state.withLockedValue { state in
            state.decisions += 1
            state.available = available.flatMap { mask in mask.allSatisfy { $0 } || !mask.contains(true) ? nil : mask }
            if state.window.count < settings.window {
                state.window.append(predicted)
            } else {
                state.window[state.windowNext] = predicted
            }
            state.windowNext = (state.windowNext + 1) % settings.window
            if let cost = realisedCost {
                if state.realised.count < settings.feedbackHorizon {
                    state.realised.append(cost)
                } else {
                    state.realisedSum -= state.realised[state.realisedNext]
                    state.realised[state.realisedNext] = cost
                }
                state.realisedSum += cost
                state.realisedNext = (state.realisedNext + 1) % settings.feedbackHorizon
            }
            guard let target = settings.targetMeanCost, state.window.count >= settings.warmup else { return }
            var windowTarget = target
            // In a fleet the feedback term and the solve cover every replica's spend and prompt mix.
            let realisedSum = state.realisedSum + (state.fleet?.realisedSum ?? 0)
            let realisedCount = state.realised.count + (state.fleet?.realisedCount ?? 0)
            if settings.feedbackGain > 0, realisedCount > 0 {
                let realisedMean = realisedSum / Double(realisedCount)
                windowTarget = target + settings.feedbackGain * (target - realisedMean)
            }
            if let fleet = state.fleet {
                state.lambda = Self.solveFleetLambda(
                    window: state.window, fleet: fleet, costs: costs, budget: windowTarget, available: state.available)
            } else {
                state.lambda = Self.solveLambda(
                    rows: state.window, costs: costs, budget: windowTarget, available: state.available)
            }
        }
    }

    /// λ for a one-off budget, solved on the current window over the generators up at the last decision; `nil` while
    /// the window is shorter than the warm-up.
    public func lambda(forBudget budget: Double) -> Double? {
        let (rows, available) = state.withLockedValue {
            ($0.window.count >= settings.warmup ? $0.window : nil, $0.available)
        }
        return rows.map { Self.solveLambda(rows: $0, costs: costs, budget: budget, available: available) }
    }

    /// ``solveLambda(rows:costs:budget:)`` over the generators `available` marks (all when `nil` or none marked).
    public static func solveLambda(rows: [[Double]], costs: [Double], budget: Double, available: [Bool]?) -> Double {
        guard let available, available.count == costs.count, available.contains(true), available.contains(false)
        else {
            return solveLambda(rows: rows, costs: costs, budget: budget)
        }
        let live = costs.indices.filter { available[$0] }
        return solveLambda(
            rows: rows.map { row in live.map { row[$0] } }, costs: live.map { costs[$0] }, budget: budget)
    }

    /// Mean cost of routing `rows` at `lambda`.
    public static func meanCost(rows: [[Double]], costs: [Double], lambda: Double) -> Double {
        var total = 0.0
        for row in rows { total += costs[RoutingRule.choose(predicted: row, costs: costs, lambda: lambda)] }
        return total / Double(max(rows.count, 1))
    }

    /// The smallest λ ≥ 0 whose routing of `rows` costs at most `budget` on average (the cheapest generator's λ when
    /// no λ meets it).
    public static func solveLambda(rows: [[Double]], costs: [Double], budget: Double) -> Double {
        solveLambda(rows: rows, weights: nil, costs: costs, budget: budget)
    }

    /// ``solveLambda(rows:costs:budget:)`` with a weight per row (`nil`: every row counts once), as the fleet budget
    /// solves over the replicas' traffic-weighted windows.
    static func solveLambda(rows: [[Double]], weights: [Double]?, costs: [Double], budget: Double) -> Double {
        let total = weights?.reduce(0, +) ?? Double(rows.count)
        guard !rows.isEmpty, total > 0 else { return 0 }
        func cost(_ lambda: Double) -> Double {
            guard let weights else { return meanCost(rows: rows, costs: costs, lambda: lambda) }
            var sum = 0.0
            for (row, weight) in zip(rows, weights) {
                sum += weight * costs[RoutingRule.choose(predicted: row, costs: costs, lambda: lambda)]
            }
            return sum / total
        }
        if cost(0) <= budget { return 0 }
        // Above `high` every prompt goes to the cheapest generator: the largest quality gain per unit of extra cost.
        let cheapest = costs.indices.min { costs[$0] < costs[$1] } ?? 0
        var high = 0.0
        for row in rows {
            for m in costs.indices where costs[m] > costs[cheapest] {
                high = max(high, (row[m] - row[cheapest]) / (costs[m] - costs[cheapest]))
            }
        }
        high = high * 1.000_001 + 1e-12
        var low = 0.0
        for _ in 0..<60 {
            let middle = (low + high) / 2
            if cost(middle) <= budget {
                high = middle
            } else {
                low = middle
            }
            if high - low <= 1e-9 * max(high, 1e-12) { break }
        }
        return high
    }
}
