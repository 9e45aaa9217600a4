/// A prompt of a routing dataset.
public struct Prompt: Sendable, Equatable, Codable {
    /// Stable identifier (the id column, or the text itself when there is none).
    public var id: String
    /// The prompt text sent to the generators.
    public var text: String
    /// Optional group (source dataset, category) used for stratified splits and reports.
    public var group: String?

    public init(id: String, text: String, group: String? = nil) {
        self.id = id
        self.text = text
        self.group = group
    }
}

/// A text-to-image generator: a model, or a model at some number of steps.
public struct Generator: Sendable, Equatable, Codable {
    /// The generator's name as it appears in the data.
    public var name: String
    /// Its cost per image (any unit, the same for all generators); the mean of per-prompt costs when the data
    /// has them; `nil` when unknown.
    public var cost: Double?

    public init(name: String, cost: Double? = nil) {
        self.name = name
        self.cost = cost
    }
}

/// Prompts × generators with the mean observed quality of each pair and, optionally, a per-prompt cost.
///
/// Quality and cost are stored row-major `[prompts, generators]`.
public struct RoutingDataset: Sendable {
    /// The prompts, in load order.
    public var prompts: [Prompt]
    /// The generators, in load order.
    public var generators: [Generator]
    /// Mean quality of each (prompt, generator), row-major `[prompts, generators]`.
    public var quality: [Double]
    /// Number of quality samples averaged into each cell (0 for an imputed cell).
    public var sampleCounts: [Int]
    /// Per-prompt cost of each (prompt, generator), row-major, when the data records it.
    public var promptCosts: [Double]?
    /// What the quality values measure (a column or metric name), for reports.
    public var metric: String
    /// Where the data came from, for reports.
    public var source: String
    /// Unit of cost, for reports ("s" for measured seconds).
    public var costUnit: String
    /// Other metrics of the same prompts and generators (``attachingAuxiliary(_:)``), which a multi-task estimator
    /// learns beside ``quality``; routing and evaluation read ``quality`` alone.
    public private(set) var auxiliary: [AuxiliaryMetric] = []

    /// Another metric's quality of every (prompt, generator), row-major as ``RoutingDataset/quality``.
    public struct AuxiliaryMetric: Sendable, Equatable {
        /// What it measures.
        public var metric: String
        /// Its values `[prompts, generators]`.
        public var quality: [Double]
    }

    public init(
        prompts: [Prompt], generators: [Generator], quality: [Double], sampleCounts: [Int]? = nil,
        promptCosts: [Double]? = nil, metric: String, source: String, costUnit: String = ""
    ) {
        precondition(quality.count == prompts.count * generators.count, "quality is not [prompts, generators]")
        precondition(promptCosts == nil || promptCosts!.count == quality.count, "costs are not [prompts, generators]")
        self.prompts = prompts
        self.generators = generators
        self.quality = quality
        self.sampleCounts = sampleCounts ?? [Int](repeating: 1, count: quality.count)
        self.promptCosts = promptCosts
        self.metric = metric
        self.source = source
        self.costUnit = costUnit
    }

    /// Number of prompts.
    public var promptCount: Int { prompts.count }
    /// Number of generators.
    public var generatorCount: Int { generators.count }
    /// Generator names in order.
    public var generatorNames: [String] { generators.map(\.name) }

    /// Whether every (prompt, generator) has a cost, per prompt or per generator.
    public var hasCost: Bool {
        promptCosts != nil || generators.allSatisfy { $0.cost != nil }
    }

    /// Mean quality of `generator` on `prompt`.
    @inlinable
    public func quality(prompt: Int, generator: Int) -> Double {
        quality[prompt * generators.count + generator]
    }

    /// Cost of `generator` on `prompt`: the per-prompt cost when recorded, else the generator's cost.
    @inlinable
    public func cost(prompt: Int, generator: Int) -> Double? {
        if let promptCosts { return promptCosts[prompt * generators.count + generator] }
        return generators[generator].cost
    }

    /// The quality matrix `[prompts, generators]` as rows.
    public func qualityRows(_ indices: [Int]? = nil) -> [[Double]] {
        let m = generators.count
        return (indices ?? Array(0..<prompts.count)).map { Array(quality[($0 * m)..<(($0 + 1) * m)]) }
    }

    /// The cost matrix `[prompts, generators]` as rows (zeros where no cost is known).
    public func costRows(_ indices: [Int]? = nil) -> [[Double]] {
        (indices ?? Array(0..<prompts.count)).map { i in
            (0..<generators.count).map { cost(prompt: i, generator: $0) ?? 0 }
        }
    }

    /// The dataset restricted to `indices`, in that order; generator costs become the subset's means.
    public func subset(_ indices: [Int]) -> RoutingDataset {
        let m = generators.count
        var quality: [Double] = []
        var counts: [Int] = []
        var costs: [Double]? = promptCosts.map { _ in [] }
        quality.reserveCapacity(indices.count * m)
        for i in indices {
            quality.append(contentsOf: self.quality[(i * m)..<((i + 1) * m)])
            counts.append(contentsOf: sampleCounts[(i * m)..<((i + 1) * m)])
            if let promptCosts { costs!.append(contentsOf: promptCosts[(i * m)..<((i + 1) * m)]) }
        }
        var result = RoutingDataset(
            prompts: indices.map { prompts[$0] }, generators: generators, quality: quality, sampleCounts: counts,
            promptCosts: costs, metric: metric, source: source, costUnit: costUnit)
        result.refreshGeneratorCostsFromPrompts()
        result.auxiliary = auxiliary.map { metric in
            AuxiliaryMetric(
                metric: metric.metric, quality: indices.flatMap { metric.quality[($0 * m)..<(($0 + 1) * m)] })
        }
        return result
    }

    /// The dataset with `other`'s quality as an auxiliary metric: `other` must list the same prompts (by id, in
    /// order) and generators.
    public func attachingAuxiliary(_ other: RoutingDataset) throws(DatasetError) -> RoutingDataset {
        guard other.prompts.map(\.id) == prompts.map(\.id), other.generatorNames == generatorNames else {
            throw DatasetError(
                .mismatchedFiles,
                "the auxiliary metric '\(other.metric)' does not list the same prompts and generators as '\(metric)' "
                    + "(\(other.promptCount) prompts and \(other.generatorCount) generators against \(promptCount) and "
                    + "\(generatorCount))")
        }
        var result = self
        result.auxiliary.append(AuxiliaryMetric(metric: other.metric, quality: other.quality))
        return result
    }

    /// Every auxiliary metric's rows `[K][N][M]` of the prompts at `indices` (all when `nil`).
    public func auxiliaryQualityRows(_ indices: [Int]? = nil) -> [[[Double]]] {
        let m = generators.count
        return auxiliary.map { metric in
            (indices ?? Array(0..<prompts.count)).map { Array(metric.quality[($0 * m)..<(($0 + 1) * m)]) }
        }
    }

    /// `count` prompts drawn without replacement in a seeded order (all of them, reordered, when `count` is at
    /// least the prompt count): the small datasets on which a routing method is checked before a team has
    /// collected more.
    public func sample(count: Int, seed: UInt64) -> RoutingDataset {
        var generator = SeededGenerator(seed: seed)
        var indices = Array(0..<prompts.count)
        indices.shuffle(using: &generator)
        return subset(Array(indices.prefix(max(0, count))))
    }

    /// Sets each generator's cost to the mean of its per-prompt costs (no-op without per-prompt costs).
    public mutating func refreshGeneratorCostsFromPrompts() {
        guard let promptCosts, !prompts.isEmpty else { return }
        let m = generators.count
        for g in 0..<m {
            var sum = 0.0
            for i in 0..<prompts.count { sum += promptCosts[i * m + g] }
            generators[g].cost = sum / Double(prompts.count)
        }
    }

    /// Distinct groups with their prompt counts, in first-seen order.
    public var groups: [(name: String, count: Int)] {
        var order: [String] = []
        var counts: [String: Int] = [:]
        for prompt in prompts {
            guard let group = prompt.group else { continue }
            if counts[group] == nil { order.append(group) }
            counts[group, default: 0] += 1
        }
        return order.map { ($0, counts[$0]!) }
    }
}
