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

    /// The metrics `--auxiliary` names, nil when it is not given.
    func auxiliaryNames() throws -> [String]? {
        guard let auxiliary else { return nil }
        let names = auxiliary.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard !names.contains("") else {
            throw ValidationError("--auxiliary names metrics separated by commas, got '\(auxiliary)'")
        }
        return names
    }

    /// Refuses, before any work is done, estimators that learn auxiliary metrics when none are named, and auxiliary
    /// metrics that cannot be: unknown to a CEMS folder, or the target itself.
    func check(_ specs: [EstimatorSpec], data: DatasetOptions) throws {
        guard let names = try auxiliaryNames() else {
            if let spec = specs.first(where: \.learnsAuxiliaryMetrics) {
                throw ValidationError(
                    "\(spec) learns other metrics of the prompts beside the target: name them with --auxiliary "
                        + "(nima for a CEMS folder, another quality column for a long CSV)")
            }
            return
        }
        let targetMetric = data.cemsDirectory != nil ? data.cemsMetric : data.qualityColumn
        for name in names {
            if data.cemsDirectory != nil, !["clip", "nima"].contains(name) {
                throw ValidationError("--auxiliary '\(name)': a CEMS folder has the metrics clip and nima")
            }
            if target == nil, name == targetMetric {
                throw ValidationError("--auxiliary '\(name)' is the target metric: name other metrics of the prompts")
            }
        }
        if Set(names).count != names.count {
            throw ValidationError("--auxiliary names a metric twice: '\(auxiliary ?? "")'")
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
            do { return try loading(metric) } catch { throw CommandFailure("--auxiliary '\(metric)': \(error)") }
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
        guard let names = try auxiliaryNames() else { return dataset }
        for name in names { dataset = try dataset.attachingAuxiliary(loadingAuxiliary(name)) }
        return dataset
    }
}
