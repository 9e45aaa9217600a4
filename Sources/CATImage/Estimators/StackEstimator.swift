import CATImageCore

/// Options of the stacked estimator (``EstimatorSpec/stack(_:)``).
public struct StackOptions: Sendable, Equatable, Codable {
    /// The members whose predictions are combined (at least two; frozen-feature estimators only).
    public var members: [EstimatorSpec]
    /// Inner cross-validation folds that give the members' out-of-fold predictions.
    public var folds: Int
    /// Resolution of the weight grid: every weight is a multiple of `1 / steps`.
    public var steps: Int
    /// Also learn how far to shrink a prompt's combined prediction toward the per-generator training mean when
    /// the members disagree on it (``StackEstimator/Shrinkage``).
    public var shrink: Bool

    public init(members: [EstimatorSpec], folds: Int = 5, steps: Int = 10, shrink: Bool = false) {
        self.members = members
        self.folds = folds
        self.steps = steps
        self.shrink = shrink
    }

    /// Checks the options, with an error a person can act on.
    public func validate() throws {
        guard members.count >= 2 else {
            throw EstimatorError("a stack needs at least two members, got \(members.count)")
        }
        for member in members {
            switch member {
            case .transformer:
                throw EstimatorError(
                    "a stack cannot hold a transformer (it would fine-tune once per inner fold); "
                        + "average it instead: transformer+kernel:tau=0.05")
            case .onFineTuned:
                throw EstimatorError(
                    "a stack cannot hold '\(member)': it reads the fine-tuned encoder of a transformer beside it; "
                        + "average them instead: transformer+krr:finetuned")
            case .auto, .stack:
                throw EstimatorError("a stack member must be a plain estimator or ensemble, not '\(member.kind)'")
            case .mean, .knn, .kernel, .ridge, .mlp, .ensemble, .lexical, .krr, .onLayer:
                break
            }
        }
        guard folds >= 2 else { throw EstimatorError("a stack needs at least 2 inner folds, got \(folds)") }
        guard steps >= 1, steps <= 100 else {
            throw EstimatorError("a stack's weight grid needs 1 ≤ steps ≤ 100, got \(steps)")
        }
    }
}

/// A learned combination of estimators: per generator, a convex combination of the members' predictions.
///
/// Fitting runs `folds` inner folds on the training data: each member is fitted on the other folds and predicts
/// the held-out one, which gives every member's out-of-fold predictions of every training prompt. The weights are
/// then chosen **by the routing objective** on those predictions, the objective `auto` uses: the area of the
/// deferral curve when costs are known, else the mean true quality of the λ = 0 choices. For generator `m`, the
/// weights `w_m` are non-negative and sum to one (multiples of `1 / steps`): first one weight vector shared by
/// every generator (a grid search over the simplex), then per-generator coordinate ascent from it, a move kept
/// only when it raises the objective. A `mean` member makes the weights a per-generator shrinkage toward the
/// training mean. Finally every member is refitted on all the data.
///
/// Prediction: `q̂_m(x) = Σ_j w_mj · q̂_j,m(x)`, then, with `shrink`, ``Shrinkage`` toward the training mean.
public struct StackEstimator: QualityEstimator {
    /// Uncertainty shrinkage: `q̃_m(x) = μ_m + (q̂_m(x) − μ_m) / (1 + strength · d(x) / scale)`, where `d(x)` is
    /// the members' disagreement on `x` (the root mean over generators of the variance across members), `scale`
    /// its mean on the training prompts' out-of-fold predictions and `μ` the training mean. When unsure, the
    /// router leans toward the best-on-average generator. `strength` is chosen by the routing objective (0 turns
    /// it off).
    public struct Shrinkage: Sendable, Equatable {
        /// Per-generator training mean `μ` `[M]`.
        public var prior: [Double]
        /// How strongly disagreement shrinks (0: not at all).
        public var strength: Double
        /// Mean disagreement of the training prompts (the unit of `d`).
        public var scale: Double

        /// No shrinkage.
        static func none(outputs: Int) -> Shrinkage {
            Shrinkage(prior: [Double](repeating: 0, count: outputs), strength: 0, scale: 1)
        }

        /// `combined` `[N][M]` shrunk by the disagreement of the members' `predictions` `[J][N][M]`.
        public func apply(_ combined: [[Double]], predictions: [[[Double]]]) -> [[Double]] {
            guard strength > 0 else { return combined }
            return combined.indices.map { i in
                let factor = 1 / (1 + strength * StackEstimator.disagreement(predictions, prompt: i) / scale)
                return combined[i].indices.map { m in prior[m] + factor * (combined[i][m] - prior[m]) }
            }
        }
    }

    /// The members, fitted on all the training data.
    public let members: [any QualityEstimator]
    /// Weights `[M][J]`: generator `m`'s weight on member `j` (non-negative, summing to one per generator).
    public let weights: [[Double]]
    /// Shrinkage toward the training mean when members disagree (strength 0 unless `shrink` learned one).
    public let shrinkage: Shrinkage
    let options: StackOptions

    init(
        members: [any QualityEstimator], weights: [[Double]], shrinkage: Shrinkage? = nil, options: StackOptions
    ) throws {
        guard members.count == options.members.count, !members.isEmpty else {
            throw EstimatorError("a stack of \(options.members.count) members got \(members.count) fitted ones")
        }
        let m = members[0].outputCount
        guard members.allSatisfy({ $0.outputCount == m }) else {
            throw EstimatorError("stack members disagree on the number of generators")
        }
        guard weights.count == m, weights.allSatisfy({ $0.count == members.count }),
            weights.allSatisfy({ row in row.allSatisfy { $0 >= 0 && $0.isFinite } })
        else {
            throw EstimatorError("stack weights must be \(m) rows of \(members.count) non-negative numbers")
        }
        let shrinkage = shrinkage ?? .none(outputs: m)
        guard shrinkage.prior.count == m, shrinkage.strength >= 0, shrinkage.strength.isFinite,
            shrinkage.scale > 0, shrinkage.scale.isFinite
        else {
            throw EstimatorError("stack shrinkage needs \(m) prior means, strength ≥ 0 and a positive scale")
        }
        self.members = members
        self.weights = weights
        self.shrinkage = shrinkage
        self.options = options
    }

    public var spec: EstimatorSpec { .stack(options) }
    public var outputCount: Int { weights.count }

    public func predict(_ input: EstimatorInput) -> [[Double]] {
        let predictions = members.map { $0.predict(input) }
        return shrinkage.apply(Self.combine(predictions, weights: weights), predictions: predictions)
    }

    /// The members' disagreement on prompt `i`: root mean over generators of the variance across members.
    static func disagreement(_ predictions: [[[Double]]], prompt i: Int) -> Double {
        let j = Double(predictions.count)
        let m = predictions[0][i].count
        var total = 0.0
        for g in 0..<m {
            let mean = predictions.reduce(0) { $0 + $1[i][g] } / j
            total += predictions.reduce(0) { $0 + ($1[i][g] - mean) * ($1[i][g] - mean) } / j
        }
        return (total / Double(max(1, m))).squareRoot()
    }

    public func tensors() -> [String: EstimatorTensor] {
        var result: [String: EstimatorTensor] = [:]
        for (index, member) in members.enumerated() {
            for (name, value) in member.tensors() { result["member\(index).\(name)"] = value }
        }
        result["stackWeights"] = EstimatorTensor(
            shape: [weights.count, members.count], values: weights.flatMap { $0.map { Float($0) } })
        result["stackPrior"] = EstimatorTensor(vector: shrinkage.prior)
        result["stackShrink"] = EstimatorTensor(vector: [shrinkage.strength, shrinkage.scale])
        return result
    }

    /// `Σ_j weights[m][j] · predictions[j][i][m]` for every prompt `i` and generator `m`.
    static func combine(_ predictions: [[[Double]]], weights: [[Double]]) -> [[Double]] {
        guard let first = predictions.first else { return [] }
        return first.indices.map { i in
            weights.indices.map { m in
                var sum = 0.0
                for j in predictions.indices { sum += weights[m][j] * predictions[j][i][m] }
                return sum
            }
        }
    }

    /// Fits the members on inner folds, learns the weights on their out-of-fold predictions, refits them on all.
    static func fit(
        _ data: TrainingSet, options: StackOptions, seed: UInt64, progress: (@Sendable (String) -> Void)?
    ) throws -> StackEstimator {
        try options.validate()
        let j = options.members.count
        let m = data.outputCount
        var weights = [[Double]](repeating: [Double](repeating: 1 / Double(j), count: j), count: m)
        var shrinkage = Shrinkage.none(outputs: m)
        if data.count >= 2 * options.folds {
            let outOfFold = try outOfFoldPredictions(data, options: options, seed: seed, progress: progress)
            // Kept at Float32 precision, the precision of the router file, so a restored stack decides alike.
            weights = learnWeights(outOfFold, data: data, steps: options.steps).map { $0.map { Double(Float($0)) } }
            progress?("stack: weights per generator \(weights.map { $0.map { ($0 * 100).rounded() / 100 } })")
            if options.shrink {
                shrinkage = learnShrinkage(outOfFold, weights: weights, data: data)
                progress?("stack: shrinkage strength \(EstimatorSpec.short(shrinkage.strength))")
            }
        }
        let fitted = try options.members.enumerated().map { index, member in
            try member.fit(data, seed: seed &+ UInt64(index), progress: progress)
        }
        return try StackEstimator(members: fitted, weights: weights, shrinkage: shrinkage, options: options)
    }

    /// Strengths tried by ``learnShrinkage(_:weights:data:)`` (0 first, so ties keep no shrinkage).
    static let shrinkageStrengths: [Double] = [0, 0.125, 0.25, 0.5, 1, 2, 4, 8]

    /// The shrinkage strength that maximises the routing objective of the shrunk out-of-fold combination.
    public static func learnShrinkage(_ predictions: [[[Double]]], weights: [[Double]], data: TrainingSet) -> Shrinkage
    {
        let m = data.outputCount
        let prior = TargetScaling(quality: data.targets).roundedToFloat32().means
        let disagreements = data.targets.indices.map { disagreement(predictions, prompt: $0) }
        let scale = Double(Float(disagreements.reduce(0, +) / Double(max(1, disagreements.count))))
        guard scale > 0, scale.isFinite else { return .none(outputs: m) }
        let combined = combine(predictions, weights: weights)
        let objective = RoutingObjective(data)
        var best = Shrinkage(prior: prior, strength: 0, scale: scale)
        var bestScore = objective.score(combined)
        for strength in shrinkageStrengths.dropFirst() {
            let candidate = Shrinkage(prior: prior, strength: strength, scale: scale)
            let value = objective.score(candidate.apply(combined, predictions: predictions))
            if value > bestScore {
                best = candidate
                bestScore = value
            }
        }
        return best
    }

    /// Every member's predictions `[J][N][M]` of each training prompt by a fit that did not see it.
    static func outOfFoldPredictions(
        _ data: TrainingSet, options: StackOptions, seed: UInt64, progress: (@Sendable (String) -> Void)?
    ) throws -> [[[Double]]] {
        let m = data.outputCount
        var result = [[[Double]]](
            repeating: [[Double]](repeating: [Double](repeating: 0, count: m), count: data.count),
            count: options.members.count)
        let parts = DataSplit.kFold(count: data.count, folds: options.folds, seed: seed)
        for (foldIndex, held) in parts.enumerated() {
            progress?("stack: inner fold \(foldIndex + 1)/\(parts.count)")
            let train = data.subset(DataSplit.complement(of: held, count: data.count))
            let test = data.subset(held).input
            for (index, member) in options.members.enumerated() {
                let predicted = try member.fit(train, seed: seed &+ UInt64(index)).predict(test)
                for (row, i) in held.enumerated() { result[index][i] = predicted[row] }
            }
        }
        return result
    }

    /// Per-generator simplex weights `[M][J]` that maximise the routing objective of the combined predictions.
    ///
    /// - Parameters:
    ///   - predictions: every member's out-of-fold predictions `[J][N][M]` of the prompts of `data`.
    ///   - data: the true quality (and costs, when known) the objective scores the combination on.
    ///   - steps: weights are multiples of `1 / steps`.
    public static func learnWeights(_ predictions: [[[Double]]], data: TrainingSet, steps: Int = 10) -> [[Double]] {
        precondition(!predictions.isEmpty, "no member predictions to weigh")
        precondition(predictions.allSatisfy { $0.count == data.count }, "member predictions and data disagree on rows")
        let j = predictions.count
        let m = data.outputCount
        let grid = simplexGrid(members: j, steps: steps)
        let objective = RoutingObjective(data)
        func score(_ weights: [[Double]]) -> Double { objective.score(combine(predictions, weights: weights)) }
        // Stage 1: one weight vector for every generator (equal weights first, so ties keep the plain average).
        let equal = [Double](repeating: 1 / Double(j), count: j)
        var best = [[Double]](repeating: equal, count: m)
        var bestScore = score(best)
        for vector in grid {
            let candidate = [[Double]](repeating: vector, count: m)
            let value = score(candidate)
            if value > bestScore {
                best = candidate
                bestScore = value
            }
        }
        // Stage 2: per-generator coordinate ascent, a few rounds, until no generator's weights move.
        for _ in 0..<3 {
            var moved = false
            for g in 0..<m {
                for vector in grid where vector != best[g] {
                    var candidate = best
                    candidate[g] = vector
                    let value = score(candidate)
                    if value > bestScore {
                        best = candidate
                        bestScore = value
                        moved = true
                    }
                }
            }
            if !moved { break }
        }
        return best
    }

    /// Every weight vector of `members` non-negative multiples of `1 / steps` summing to one.
    static func simplexGrid(members: Int, steps: Int) -> [[Double]] {
        var result: [[Double]] = []
        func extend(_ prefix: [Int], remaining: Int) {
            if prefix.count == members - 1 {
                result.append((prefix + [remaining]).map { Double($0) / Double(steps) })
                return
            }
            for count in 0...remaining { extend(prefix + [count], remaining: remaining - count) }
        }
        extend([], remaining: steps)
        return result
    }

    /// Restores a stack from its arrays (the inverse of ``tensors()``).
    static func restore(
        _ tensors: [String: EstimatorTensor], options: StackOptions, encoder: (any PromptEncoder)?
    ) throws -> StackEstimator {
        try options.validate()
        guard let stored = tensors["stackWeights"], stored.shape.count == 2,
            stored.shape[1] == options.members.count
        else {
            throw EstimatorError(
                "stack tensors lack 'stackWeights' [generators, \(options.members.count)] or have another shape")
        }
        let members = try options.members.enumerated().map { index, member in
            try member.restore(EstimatorSpec.members(of: tensors, index: index), encoder: encoder)
        }
        let j = stored.shape[1]
        let weights = (0..<stored.shape[0]).map { g in (0..<j).map { Double(stored.values[g * j + $0]) } }
        guard let prior = tensors["stackPrior"], let shrink = tensors["stackShrink"], shrink.values.count == 2 else {
            throw EstimatorError("stack tensors lack 'stackPrior' [generators] or 'stackShrink' [2]")
        }
        let shrinkage = Shrinkage(
            prior: prior.values.map { Double($0) }, strength: Double(shrink.values[0]),
            scale: Double(shrink.values[1]))
        return try StackEstimator(members: members, weights: weights, shrinkage: shrinkage, options: options)
    }
}

/// ``AutoSelection``'s routing objective on one fixed set of prompts, with the rule costs and the cost range
/// computed once (the weight search scores hundreds of combinations of the same prompts).
struct RoutingObjective {
    let quality: [[Double]]
    let costs: [[Double]]?
    let ruleCosts: [[Double]]
    let costRange: ClosedRange<Double>

    init(_ data: TrainingSet) {
        let m = data.outputCount
        quality = data.targets
        costs = data.costs
        let ruleCost = data.costs?.columnMeans(width: m) ?? [Double](repeating: 0, count: m)
        ruleCosts = [[Double]](repeating: ruleCost, count: data.count)
        let meanCost = ruleCost
        costRange = (meanCost.min() ?? 0)...(meanCost.max() ?? 0)
    }

    /// Deferral-curve area over the generators' cost range when costs are known, else the mean true quality of
    /// the λ = 0 choices.
    func score(_ predicted: [[Double]]) -> Double {
        guard let costs else {
            let choices = DeferralCurve.choices(predicted: predicted, ruleCosts: ruleCosts, lambda: 0)
            return zip(choices, quality).reduce(0) { $0 + $1.1[$1.0] } / Double(max(1, choices.count))
        }
        let curve = DeferralCurve.sweep(predicted: predicted, ruleCosts: ruleCosts, quality: quality, cost: costs)
        return DeferralCurve.area(of: curve, lowCost: costRange.lowerBound, highCost: costRange.upperBound)
    }
}
