/// The cost-aware routing rule of Li et al. (2025): send a prompt to `argmax_m (γ̂_m(x) − λ·c_m)`.
public enum RoutingRule {
    /// The index of the generator maximising `predicted[m] − lambda · costs[m]`.
    ///
    /// Ties go to the cheaper generator, then to the lower index, so decisions are deterministic.
    @inlinable
    public static func choose(predicted: [Double], costs: [Double], lambda: Double) -> Int {
        precondition(!predicted.isEmpty && predicted.count == costs.count, "need one cost per predicted quality")
        var best = 0
        var bestScore = predicted[0] - lambda * costs[0]
        for m in 1..<predicted.count {
            let score = predicted[m] - lambda * costs[m]
            if score > bestScore || (score == bestScore && costs[m] < costs[best]) {
                best = m
                bestScore = score
            }
        }
        return best
    }

    /// Generator indices ordered from best to worst score at `lambda` (the fallback order of the gateway).
    public static func ranking(predicted: [Double], costs: [Double], lambda: Double) -> [Int] {
        precondition(predicted.count == costs.count, "need one cost per predicted quality")
        return predicted.indices.sorted { a, b in
            let scoreA = predicted[a] - lambda * costs[a]
            let scoreB = predicted[b] - lambda * costs[b]
            if scoreA != scoreB { return scoreA > scoreB }
            if costs[a] != costs[b] { return costs[a] < costs[b] }
            return a < b
        }
    }
}

/// One routing decision: the chosen generator and everything that led to it.
public struct RoutingDecision: Sendable, Codable, Equatable {
    /// One generator's prediction for the prompt.
    public struct Candidate: Sendable, Codable, Equatable {
        public var generator: String
        /// Predicted mean quality γ̂_m(x).
        public var predictedQuality: Double
        /// The cost used by the rule.
        public var cost: Double
        /// `predictedQuality − λ · cost`.
        public var score: Double

        public init(generator: String, predictedQuality: Double, cost: Double, score: Double) {
            self.generator = generator
            self.predictedQuality = predictedQuality
            self.cost = cost
            self.score = score
        }
    }

    /// The chosen generator's name.
    public var generator: String
    /// The λ used.
    public var lambda: Double
    /// Every generator, in ranking order (best first): the fallback order.
    public var candidates: [Candidate]

    public init(generator: String, lambda: Double, candidates: [Candidate]) {
        self.generator = generator
        self.lambda = lambda
        self.candidates = candidates
    }

    /// Builds the decision for one prompt from predicted qualities and costs.
    public init(generators: [String], predicted: [Double], costs: [Double], lambda: Double) {
        let order = RoutingRule.ranking(predicted: predicted, costs: costs, lambda: lambda)
        self.init(
            generator: generators[order[0]], lambda: lambda,
            candidates: order.map {
                Candidate(
                    generator: generators[$0], predictedQuality: predicted[$0], cost: costs[$0],
                    score: predicted[$0] - lambda * costs[$0])
            })
    }
}
