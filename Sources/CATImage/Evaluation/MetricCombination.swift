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
