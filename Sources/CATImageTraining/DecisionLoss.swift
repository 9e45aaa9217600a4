import CATImageCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// How much of the routing decision a fine-tune trains for, beside the squared error: the
/// ``FineTuneOptions/decision`` option. `nil` there trains on the squared error alone.
public struct DecisionOptions: Sendable, Equatable, Codable {
    /// Weight of the decision term against the mean squared error of the standardized targets.
    public var weight: Double
    /// Softmax temperature of the relaxed choice, as a share of the spread of the prompts' quality differences.
    public var temperature: Double
    /// Number of trade-offs λ the term averages over, spread evenly in mean cost.
    public var lambdaCount: Int

    /// Options; see each property.
    public init(weight: Double = 1, temperature: Double = 0.3, lambdaCount: Int = 16) {
        self.weight = weight
        self.temperature = temperature
        self.lambdaCount = lambdaCount
    }

    /// Checks ranges; the message names the option.
    public func validate() throws(FineTuneError) {
        guard weight > 0, weight.isFinite else { throw FineTuneError("decision weight must be > 0, got \(weight)") }
        guard temperature > 0, temperature.isFinite else {
            throw FineTuneError("decision temperature must be > 0, got \(temperature)")
        }
        guard lambdaCount >= 1 else { throw FineTuneError("decision needs at least 1 trade-off, got \(lambdaCount)") }
    }
}

/// The routing decision as a training loss: the router picks `argmax_m q̂_m − λ·c̄_m` (``ruleCosts`` `c̄`); relaxed
/// to a softmax at a temperature, the expected true quality minus λ times the true cost of the choice is
/// differentiable in the predictions. The loss is minus that reward, divided by the spread of the quality
/// differences and averaged over trade-offs λ whose hard choices spread the mean cost evenly over the generators'
/// range (``calibrate(predictedTargets:)``: from the model's own predictions, as a router calibrates λ for a
/// budget).
///
/// The head predicts standardized targets `z`; ``scaling`` maps them to qualities (up to a per-prompt constant, which
/// the choice ignores). Rows (``quality``, ``cost``) are those of the
/// examples the loss is applied to, in their order.
public struct DecisionLoss: Sendable, Equatable {
    /// The weight, temperature share and number of trade-offs.
    public let options: DecisionOptions
    /// True qualities `[N][M]`.
    public let quality: [[Double]]
    /// True costs `[N][M]`.
    public let cost: [[Double]]
    /// The rule's cost per generator `[M]` (the training prompts' mean costs).
    public let ruleCosts: [Double]
    /// The targets' scaling: standardized outputs to qualities.
    public let scaling: TargetScaling
    /// Standard deviation of the qualities minus each prompt's mean: the unit of the temperature and the loss.
    public let spread: Double
    /// The trade-offs the loss averages over; ``calibrate(predictedTargets:)`` sets them.
    public var lambdas: [Double]

    /// A loss over the rows `quality` and `cost`; ``lambdas`` start at `[0]` until calibrated.
    public init(
        options: DecisionOptions, quality: [[Double]], cost: [[Double]], ruleCosts: [Double], scaling: TargetScaling
    ) throws(FineTuneError) {
        try options.validate()
        let m = ruleCosts.count
        guard m >= 1, scaling.scales.count == m, quality.count == cost.count,
            quality.allSatisfy({ $0.count == m }), cost.allSatisfy({ $0.count == m })
        else {
            throw FineTuneError("the decision loss needs a quality and a cost for each of the \(m) generators")
        }
        var squares = 0.0
        for row in quality {
            let mean = row.reduce(0, +) / Double(m)
            for value in row { squares += (value - mean) * (value - mean) }
        }
        let spread = (squares / Double(max(1, quality.count * m))).squareRoot()
        guard spread > 1e-12, spread.isFinite else {
            throw FineTuneError("the decision loss needs prompts whose generators differ in quality")
        }
        self.options = options
        self.quality = quality
        self.cost = cost
        self.ruleCosts = ruleCosts
        self.scaling = scaling
        self.spread = spread
        lambdas = [0]
    }

    private init(_ loss: DecisionLoss, rows: [Int]) {
        options = loss.options
        quality = rows.map { loss.quality[$0] }
        cost = rows.map { loss.cost[$0] }
        ruleCosts = loss.ruleCosts
        scaling = loss.scaling
        spread = loss.spread
        lambdas = loss.lambdas
    }

    /// The same loss over some of its rows, in the order given (spread and trade-offs kept).
    public func restricted(to rows: [Int]) -> DecisionLoss { DecisionLoss(self, rows: rows) }

    /// Sets ``lambdas`` from standardized predictions `[N][M]` of this loss's rows: for each of
    /// ``DecisionOptions/lambdaCount`` mean costs spread evenly inside the range of the rule's costs, the smallest λ
    /// whose hard choices on these predictions cost at most that on average. Without a cost range (equal or no
    /// costs) the one trade-off is λ = 0.
    public mutating func calibrate(predictedTargets z: [[Double]]) {
        precondition(z.count == quality.count, "\(z.count) predictions for \(quality.count) rows")
        let low = ruleCosts.min() ?? 0
        let high = ruleCosts.max() ?? 0
        guard high - low > 1e-12 * max(1, abs(high)), !z.isEmpty else {
            lambdas = [0]
            return
        }
        let predicted = z.map(scaling.quality(fromTarget:))
        func meanCost(_ lambda: Double) -> Double {
            var total = 0.0
            for row in predicted {
                var best = 0
                for j in 1..<row.count where row[j] - lambda * ruleCosts[j] > row[best] - lambda * ruleCosts[best] {
                    best = j
                }
                total += ruleCosts[best]
            }
            return total / Double(predicted.count)
        }
        let count = options.lambdaCount
        lambdas = (1...count).map { k in
            let target = low + (high - low) * Double(k) / Double(count + 1)
            var upper = 1.0
            while meanCost(upper) > target && upper < 1e12 { upper *= 2 }
            var lower = 0.0
            for _ in 0..<60 {
                let middle = (lower + upper) / 2
                if meanCost(middle) <= target { upper = middle } else { lower = middle }
            }
            return upper
        }
    }

    /// The loss of row `row` given the head's outputs `z` `[M]`, times `scale`, adding its gradient with respect to
    /// `z` (times `scale`) into `gradient`.
    func add<T: TrainingScalar>(
        row: Int, outputs z: UnsafeBufferPointer<T>, scale: Double, gradient: UnsafeMutableBufferPointer<T>
    ) -> Double {
        let m = ruleCosts.count
        let scales = scaling.scales
        let temperature = options.temperature * spread
        let q = quality[row]
        let c = cost[row]
        let predicted = scaling.quality(fromTarget: z.map { Double($0) })
        var reward = [Double](repeating: 0, count: m)
        var p = [Double](repeating: 0, count: m)
        var sum = [Double](repeating: 0, count: m)
        var total = 0.0
        for lambda in lambdas {
            var top = -Double.infinity
            for j in 0..<m {
                p[j] = (predicted[j] - lambda * ruleCosts[j]) / temperature
                top = max(top, p[j])
            }
            var norm = 0.0
            for j in 0..<m {
                p[j] = exp(p[j] - top)
                norm += p[j]
            }
            var expected = 0.0
            for j in 0..<m {
                p[j] /= norm
                reward[j] = q[j] - lambda * c[j]
                expected += p[j] * reward[j]
            }
            total += expected
            for j in 0..<m { sum[j] += p[j] * (reward[j] - expected) * scales[j] / temperature }
        }
        // loss = −weight · scale · mean over λ of the expected reward / spread.
        let factor = options.weight * scale / (Double(lambdas.count) * spread)
        for j in 0..<m { gradient[j] -= T(factor * sum[j]) }
        return -factor * total
    }
}
