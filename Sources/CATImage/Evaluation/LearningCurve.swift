import CATImageCore
import CATImageEncoder
import Foundation

/// How routing figures grow with the training prompts: the same split evaluated with each estimator fitted on
/// growing shares of every training part (nested draws), each tested on the whole test part. Whether the last
/// doubling still paid says whether collecting more prompts would (`catimage evaluate --learning-curve`).
public struct LearningCurve: Sendable, Codable {
    /// One share of the training parts.
    public struct Point: Sendable, Codable {
        /// The share of each training part fitted on.
        public var share: Double
        /// Mean number of training prompts per part at this share.
        public var trainPrompts: Double
        /// Every estimator's figures (means over parts) and their spreads, in the order asked.
        public var routers: [Estimator]
    }

    /// One estimator at one share.
    public struct Estimator: Sendable, Codable {
        public var router: RouterFigures
        public var std: EvaluationReport.Spread
    }

    public var dataset: EvaluationReport.DatasetInfo
    /// `cost` (gap recovered is the headline figure) or `quality-only` (gain over the best single generator).
    public var mode: String
    /// The split every share is evaluated on (its `trainShare` unset).
    public var `protocol`: EvaluationReport.ProtocolInfo
    /// Ascending shares.
    public var points: [Point]

    /// Evaluates `estimators` at every share of `shares` (each in (0, 1]) on one split of `dataset`; the other
    /// arguments are ``RouterEvaluation/run(dataset:features:layerMeans:estimators:split:trainShare:stratify:encoder:memberSubsets:progress:steps:)``'s.
    public static func run(
        dataset: RoutingDataset, features: Matrix?, layerMeans: [Int: Matrix] = [:], estimators: [EstimatorSpec],
        split: EvaluationSplit, shares: [Double], stratify: Bool = true, encoder: (any PromptEncoder)? = nil,
        memberSubsets: Bool = false, progress: (@Sendable (String) -> Void)? = nil,
        steps: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) throws -> LearningCurve {
        guard !shares.isEmpty else { throw EstimatorError("a learning curve needs at least one training share") }
        if let bad = shares.first(where: { !($0 > 0 && $0 <= 1) }) {
            throw EstimatorError("every training share must be in (0, 1], got \(bad)")
        }
        let ordered = Array(Set(shares)).sorted()
        let reports = try ordered.enumerated().map { s, share in
            let count = ordered.count
            let shareProgress: (@Sendable (String) -> Void)? =
                progress.map { report in { @Sendable line in report("share \(s + 1)/\(count): " + line) } }
            let shareSteps: (@Sendable (Int, Int) -> Void)? =
                steps.map { report in { @Sendable done, total in report(s * total + done, count * total) } }
            return try RouterEvaluation.run(
                dataset: dataset, features: features, layerMeans: layerMeans, estimators: estimators, split: split,
                trainShare: share, stratify: stratify, encoder: encoder, memberSubsets: memberSubsets,
                progress: shareProgress, steps: shareSteps)
        }
        let points = zip(ordered, reports).map { share, report in
            Point(
                share: share,
                trainPrompts: Double(report.folds.reduce(0) { $0 + $1.trainCount }) / Double(report.folds.count),
                routers: report.routers.map { summary in Estimator(router: summary.router, std: summary.std) })
        }
        var info = reports[0].protocol
        info.trainShare = nil
        return LearningCurve(dataset: reports[0].dataset, mode: reports[0].mode, protocol: info, points: points)
    }

    /// The headline figure of a router: gap recovered with costs, else the quality gain over the best single
    /// generator.
    public func headline(_ estimator: Estimator) -> Double {
        mode == "cost" ? estimator.router.gapRecovered ?? 0 : estimator.router.qualityGain
    }

    /// Per estimator (in the order asked), what the last step of the curve added to the headline figure per
    /// doubling of the training prompts; `nil` with fewer than two shares.
    public var gainPerDoubling: [Double]? {
        guard points.count >= 2 else { return nil }
        let a = points[points.count - 2]
        let b = points[points.count - 1]
        let doublings = log2(b.trainPrompts / a.trainPrompts)
        return zip(a.routers, b.routers).map { (headline($1) - headline($0)) / doublings }
    }
}
