import ArgumentParser
import CATImage
import CATImageCore
import Foundation

/// Options naming a multi-metric target.
struct TargetOptions: ParsableArguments {
    @Option(
        help: """
            Route on a weighted sum of standardized metrics instead of one: 'clip=1,nima=1' for a CEMS folder \
            (metric names), 'mos_perception=1,mos_correspondence=1' for a long CSV (quality columns).
            """)
    var target: String?

    /// The dataset with the combined target (or as loaded when no target is given).
    func load(_ data: DatasetOptions) throws -> RoutingDataset {
        guard let target else { return try data.load() }
        let weights: [MetricWeight]
        do { weights = try MetricWeight.parseList(target) } catch {
            throw ValidationError("--target items must be name=weight, got '\(error.item)'")
        }
        return try RoutingDataset.combiningMetrics(weights) { metric in
            var options = data
            if data.cemsDirectory != nil { options.metric = metric } else { options.qualityColumn = metric }
            return try options.load()
        }
    }
}
