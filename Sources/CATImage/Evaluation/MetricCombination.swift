import CATImageCore

extension RoutingDataset {
    /// One quality target from several metrics of the same prompts and generators: the weighted sum of each
    /// metric standardized over all its (prompt, generator) cells, `Σ_k w_k (q_k − μ_k) / σ_k`.
    ///
    /// All parts must list the same prompts (by id) and generators in the same order; costs come from the
    /// first part.
    public static func combiningMetrics(_ parts: [(dataset: RoutingDataset, weight: Double)]) throws -> RoutingDataset {
        guard let first = parts.first?.dataset else { throw EstimatorError("no metric to combine") }
        var quality = [Double](repeating: 0, count: first.quality.count)
        for (dataset, weight) in parts {
            guard dataset.prompts.map(\.id) == first.prompts.map(\.id),
                dataset.generatorNames == first.generatorNames
            else {
                throw EstimatorError(
                    "metric '\(dataset.metric)' does not list the same prompts and generators as '\(first.metric)'")
            }
            let n = Double(dataset.quality.count)
            let mean = dataset.quality.reduce(0, +) / n
            let variance = dataset.quality.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
            let scale = variance > 0 ? variance.squareRoot() : 1
            for i in quality.indices { quality[i] += weight * (dataset.quality[i] - mean) / scale }
        }
        var combined = first
        combined.quality = quality
        combined.metric = parts.map { "\($0.weight)·z(\($0.dataset.metric))" }.joined(separator: " + ")
        return combined
    }
}

/// One metric of a combined target and its weight (`clip=1`).
public struct MetricWeight: Sendable, Equatable {
    /// The metric: a CEMS metric name or a long CSV's quality column.
    public var metric: String
    /// Its weight in the sum of standardized metrics.
    public var weight: Double

    public init(metric: String, weight: Double) {
        self.metric = metric
        self.weight = weight
    }

    /// A target list item that is not `name=weight`.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The item at fault.
        public let item: String

        public var description: String { "target items must be name=weight, got '\(item)'" }
    }

    /// Parses `name=weight,name=weight`.
    public static func parseList(_ text: String) throws(ParseError) -> [MetricWeight] {
        var result: [MetricWeight] = []
        for item in text.split(separator: ",") {
            let pair = item.split(separator: "=").map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, !pair[0].isEmpty, let weight = Double(pair[1]) else {
                throw ParseError(item: String(item))
            }
            result.append(MetricWeight(metric: pair[0], weight: weight))
        }
        return result
    }
}

extension RoutingDataset {
    /// The combined target of `weights` (``combiningMetrics(_:)-swift.type.method``), each metric's dataset
    /// loaded by `load` from its name.
    public static func combiningMetrics(
        _ weights: [MetricWeight], load: (_ metric: String) throws -> RoutingDataset
    ) throws -> RoutingDataset {
        try combiningMetrics(weights.map { (try load($0.metric), $0.weight) })
    }
}
