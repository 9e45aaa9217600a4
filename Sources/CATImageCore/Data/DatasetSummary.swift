/// The figures `catimage dataset inspect` prints: per-generator quality, cost and best share; the best single
/// generator; the per-prompt oracle.
public struct DatasetSummary: Sendable, Codable, Equatable {
    /// One generator's statistics.
    public struct GeneratorStats: Sendable, Codable, Equatable {
        public var name: String
        /// Mean over prompts of the prompt's mean quality.
        public var meanQuality: Double
        /// Standard deviation over prompts of the prompt's mean quality.
        public var qualityStd: Double
        /// Mean cost per prompt, `nil` without cost data.
        public var meanCost: Double?
        /// Share of prompts on which this generator has the highest quality (ties split evenly).
        public var bestShare: Double

        enum CodingKeys: String, CodingKey { case name, meanQuality, qualityStd, meanCost, bestShare }

        // Written by hand so that an unknown cost is `null` in JSON, not an absent key.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(meanQuality, forKey: .meanQuality)
            try container.encode(qualityStd, forKey: .qualityStd)
            try container.encode(meanCost, forKey: .meanCost)
            try container.encode(bestShare, forKey: .bestShare)
        }
    }

    /// The best single generator by mean quality.
    public struct BestSingle: Sendable, Codable, Equatable {
        public var generator: String
        public var quality: Double
        public var cost: Double?

        enum CodingKeys: String, CodingKey { case generator, quality, cost }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(generator, forKey: .generator)
            try container.encode(quality, forKey: .quality)
            try container.encode(cost, forKey: .cost)
        }
    }

    /// Choosing the best generator for every prompt with hindsight.
    public struct Oracle: Sendable, Codable, Equatable {
        /// Mean over prompts of the best generator's quality.
        public var quality: Double
        /// Mean cost of those choices (the cheapest among ties), `nil` without cost data.
        public var cost: Double?

        enum CodingKeys: String, CodingKey { case quality, cost }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(quality, forKey: .quality)
            try container.encode(cost, forKey: .cost)
        }
    }

    /// A group with its prompt count.
    public struct Group: Sendable, Codable, Equatable {
        public var name: String
        public var prompts: Int
    }

    public var source: String
    public var metric: String
    public var costUnit: String
    public var prompts: Int
    public var groups: [Group]
    public var generators: [GeneratorStats]
    public var bestSingle: BestSingle
    public var oracle: Oracle

    /// Computes the summary of `dataset`.
    public init(_ dataset: RoutingDataset) {
        precondition(dataset.promptCount > 0 && dataset.generatorCount > 0, "summary of an empty dataset")
        let n = dataset.promptCount
        let m = dataset.generatorCount
        var sums = [Double](repeating: 0, count: m)
        var squares = [Double](repeating: 0, count: m)
        var costSums = [Double](repeating: 0, count: m)
        var bestCounts = [Double](repeating: 0, count: m)
        var oracleQuality = 0.0
        var oracleCost = 0.0
        let hasCost = dataset.hasCost
        for i in 0..<n {
            var best = -Double.infinity
            for g in 0..<m { best = max(best, dataset.quality(prompt: i, generator: g)) }
            let winners = (0..<m).filter { dataset.quality(prompt: i, generator: $0) == best }
            for g in winners { bestCounts[g] += 1 / Double(winners.count) }
            oracleQuality += best
            if hasCost {
                oracleCost += winners.map { dataset.cost(prompt: i, generator: $0)! }.min()!
            }
            for g in 0..<m {
                let q = dataset.quality(prompt: i, generator: g)
                sums[g] += q
                squares[g] += q * q
                if hasCost { costSums[g] += dataset.cost(prompt: i, generator: g)! }
            }
        }
        let count = Double(n)
        let stats = (0..<m).map { g in
            let mean = sums[g] / count
            let variance = n > 1 ? max(0, (squares[g] - count * mean * mean) / (count - 1)) : 0
            return GeneratorStats(
                name: dataset.generators[g].name, meanQuality: mean, qualityStd: variance.squareRoot(),
                meanCost: hasCost ? costSums[g] / count : nil, bestShare: bestCounts[g] / count)
        }
        let best = stats.indices.max { stats[$0].meanQuality < stats[$1].meanQuality }!
        generators = stats
        bestSingle = BestSingle(
            generator: stats[best].name, quality: stats[best].meanQuality, cost: stats[best].meanCost)
        oracle = Oracle(quality: oracleQuality / count, cost: hasCost ? oracleCost / count : nil)
        prompts = n
        groups = dataset.groups.map { Group(name: $0.name, prompts: $0.count) }
        source = dataset.source
        metric = dataset.metric
        costUnit = dataset.costUnit
    }
}
