import Foundation

/// Logged bandit feedback in index form, what the off-policy estimators read: for each row, the action the
/// logging policy took, the probability it had of taking it, and the reward observed.
public struct LoggedBandit: Sendable, Equatable {
    /// The action taken per row, in `0..<actionCount`.
    public var actions: [Int]
    /// The logging policy's probability of the taken action per row, in (0, 1].
    public var propensities: [Double]
    /// The observed reward per row.
    public var rewards: [Double]
    public var actionCount: Int

    public init(actions: [Int], propensities: [Double], rewards: [Double], actionCount: Int) {
        precondition(actions.count == propensities.count && actions.count == rewards.count, "one value per row")
        precondition(actions.allSatisfy { (0..<actionCount).contains($0) }, "actions in 0..<actionCount")
        precondition(propensities.allSatisfy { $0 > 0 && $0 <= 1 }, "propensities in (0, 1]")
        self.actions = actions
        self.propensities = propensities
        self.rewards = rewards
        self.actionCount = actionCount
    }

    public var count: Int { actions.count }

    /// The importance weight of each row for a deterministic target policy: `1[a_i = π(x_i)] / p_i`.
    public func weights(target: [Int]) -> [Double] {
        precondition(target.count == count, "one target action per row")
        return (0..<count).map { actions[$0] == target[$0] ? 1 / propensities[$0] : 0 }
    }
}

/// An estimate with a normal-approximation confidence interval from per-row terms.
public struct OffPolicyInterval: Sendable, Equatable, Codable {
    public var estimate: Double
    public var standardError: Double
    public var low: Double
    public var high: Double

    public init(estimate: Double, standardError: Double, z: Double) {
        self.estimate = estimate
        self.standardError = standardError
        self.low = estimate - z * standardError
        self.high = estimate + z * standardError
    }

    /// The mean of `terms` with standard error `sd(terms) / √n` (sample standard deviation).
    public init(meanOf terms: [Double], z: Double) {
        precondition(!terms.isEmpty, "need at least one term")
        let n = Double(terms.count)
        let mean = terms.reduce(0, +) / n
        let variance = terms.count < 2 ? 0 : terms.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        self.init(estimate: mean, standardError: (variance / n).squareRoot(), z: z)
    }

    public func contains(_ value: Double) -> Bool { low <= value && value <= high }
}

/// Off-policy estimators of a deterministic target policy's mean reward from logged bandit feedback.
///
/// All three are means of per-row terms, so their intervals are the normal approximation `mean ± z·sd/√n`:
/// - IPS (inverse propensity): `w_i r_i`, unbiased when every propensity is right and positive;
/// - SNIPS (self-normalised): `Σ w_i r_i / Σ w_i`, with the delta-method terms `w_i (r_i − V̂) / w̄`;
/// - DR (doubly robust): `q̂(x_i, π(x_i)) + w_i (r_i − q̂(x_i, a_i))`, unbiased when the propensities are right
///   whatever the reward model `q̂`, and of lower variance the better `q̂` predicts.
public enum OffPolicyEstimators {
    public static func inversePropensity(_ log: LoggedBandit, target: [Int], z: Double) -> OffPolicyInterval {
        let weights = log.weights(target: target)
        return OffPolicyInterval(meanOf: zip(weights, log.rewards).map { $0 * $1 }, z: z)
    }

    /// `nil` when no row's action agrees with the target (`Σ w = 0`).
    public static func selfNormalized(_ log: LoggedBandit, target: [Int], z: Double) -> OffPolicyInterval? {
        let weights = log.weights(target: target)
        let total = weights.reduce(0, +)
        guard total > 0 else { return nil }
        let value = zip(weights, log.rewards).reduce(0) { $0 + $1.0 * $1.1 } / total
        let meanWeight = total / Double(log.count)
        let terms = zip(weights, log.rewards).map { $0 * ($1 - value) / meanWeight }
        let spread = OffPolicyInterval(meanOf: terms, z: z)
        return OffPolicyInterval(estimate: value, standardError: spread.standardError, z: z)
    }

    /// - Parameter rewardModel: `q̂(x_i, a)` `[rows][actionCount]`, fitted without row `i` (cross-fitting).
    public static func doublyRobust(
        _ log: LoggedBandit, target: [Int], rewardModel: [[Double]], z: Double
    ) -> OffPolicyInterval {
        precondition(rewardModel.count == log.count, "one reward-model row per logged row")
        let weights = log.weights(target: target)
        let terms = (0..<log.count).map { (i: Int) -> Double in
            let residual: Double = log.rewards[i] - rewardModel[i][log.actions[i]]
            return rewardModel[i][target[i]] + weights[i] * residual
        }
        return OffPolicyInterval(meanOf: terms, z: z)
    }

    /// Kish's effective sample size of the importance weights, `(Σw)² / Σw²`: how many logged rows the
    /// estimate effectively rests on.
    public static func effectiveSampleSize(_ log: LoggedBandit, target: [Int]) -> Double {
        let weights = log.weights(target: target)
        let squares = weights.reduce(0) { $0 + $1 * $1 }
        guard squares > 0 else { return 0 }
        let total = weights.reduce(0, +)
        return total * total / squares
    }

    /// The standard normal quantile `Φ⁻¹(p)` (Acklam's rational approximation, relative error below 1.2e-9).
    public static func normalQuantile(_ p: Double) -> Double {
        precondition(p > 0 && p < 1, "probability in (0, 1)")
        let a = [
            -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
            -3.066479806614716e+01, 2.506628277459239e+00,
        ]
        let b = [
            -5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
            -1.328068155288572e+01,
        ]
        let c = [
            -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
            4.374664141464968e+00, 2.938163982698783e+00,
        ]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        /// `Σ coefficients[k] · x^(n−k)` by Horner's rule.
        func horner(_ coefficients: [Double], _ x: Double) -> Double {
            coefficients.reduce(0) { $0 * x + $1 }
        }
        func tail(_ q: Double) -> Double { horner(c, q) / horner(d + [1], q) }
        if p < 0.02425 { return tail((-2 * Foundation.log(p)).squareRoot()) }
        if p > 1 - 0.02425 { return -tail((-2 * Foundation.log(1 - p)).squareRoot()) }
        let q = p - 0.5
        let r = q * q
        return horner(a, r) * q / horner(b + [1], r)
    }

    /// The `z` of a two-sided interval at `confidence` (1.96 at 0.95).
    public static func z(confidence: Double) -> Double {
        normalQuantile(0.5 + confidence / 2)
    }
}
