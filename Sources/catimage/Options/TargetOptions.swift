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

    @Option(
        help: """
            Other metrics of the same prompts for a multi-task estimator to learn beside the target \
            ('transformer:multitask=W'), comma-separated: 'nima' for a CEMS folder, 'mos_correspondence' for a \
            long CSV.
            """)
    var auxiliary: String?

    /// Refuses estimators that learn auxiliary metrics when none are named, before any work is done.
    func check(_ specs: [EstimatorSpec]) throws {
        if auxiliary == nil, let spec = specs.first(where: \.learnsAuxiliaryMetrics) {
            throw ValidationError(
                "\(spec) learns other metrics of the prompts beside the target: name them with --auxiliary "
                    + "(nima for a CEMS folder, another quality column for a long CSV)")
        }
    }

    /// The dataset with the combined target (or as loaded when no target is given) and the auxiliary metrics.
    func load(_ data: DatasetOptions) throws -> RoutingDataset {
        func loading(_ metric: String) throws -> RoutingDataset {
            var options = data
            if data.cemsDirectory != nil { options.metric = metric } else { options.qualityColumn = metric }
            try options.validate()
            return try options.load()
        }
        func loadingAuxiliary(_ metric: String) throws -> RoutingDataset {
            if data.cemsDirectory != nil, !["clip", "nima"].contains(metric) {
                throw ValidationError("--auxiliary '\(metric)': a CEMS folder has the metrics clip and nima")
            }
            do { return try loading(metric) } catch {
                throw ValidationError("--auxiliary '\(metric)': \(error)")
            }
        }
        var dataset: RoutingDataset
        if let target {
            let weights: [MetricWeight]
            do { weights = try MetricWeight.parseList(target) } catch {
                throw ValidationError("--target items must be name=weight, got '\(error.item)'")
            }
            dataset = try RoutingDataset.combiningMetrics(weights, load: loading)
        } else {
            dataset = try data.load()
        }
        guard let auxiliary else { return dataset }
        let names = auxiliary.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard !names.contains("") else {
            throw ValidationError("--auxiliary names metrics separated by commas, got '\(auxiliary)'")
        }
        for name in names { dataset = try dataset.attachingAuxiliary(loadingAuxiliary(name)) }
        return dataset
    }
}
