import CATImageCore

/// The per-generator mean quality of the training prompts: the same prediction for every prompt.
public struct MeanEstimator: QualityEstimator {
    /// Mean training quality of each generator.
    public let means: [Double]

    /// Means are kept at Float32 precision, the precision of the router file.
    public init(means: [Double]) { self.means = means.map { Double(Float($0)) } }

    init(_ data: TrainingSet) { self.init(means: TargetScaling(quality: data.targets).roundedToFloat32().means) }

    public var spec: EstimatorSpec { .mean }
    public var outputCount: Int { means.count }

    public func predict(_ input: EstimatorInput) -> [[Double]] {
        [[Double]](repeating: means, count: input.count)
    }

    public func tensors() -> [String: EstimatorTensor] { ["mean": EstimatorTensor(vector: means)] }
}

/// The average of several fitted estimators' predictions.
public struct EnsembleEstimator: QualityEstimator {
    /// The members, each predicting every generator.
    public let members: [any QualityEstimator]

    public init(members: [any QualityEstimator]) {
        precondition(!members.isEmpty, "an ensemble needs members")
        precondition(Set(members.map(\.outputCount)).count == 1, "ensemble members disagree on output count")
        self.members = members
    }

    public var spec: EstimatorSpec { .ensemble(members.map(\.spec)) }
    public var outputCount: Int { members[0].outputCount }

    /// Inputs of at most this many prompts (a served decision) have their members predict side by side on the
    /// cores: each member of a neighbour or kernel estimator reads its whole store of training prompts (15 MB for
    /// 10,000), so one prompt's members are bound by memory bandwidth, not by the arithmetic. Larger inputs run
    /// the members one after another, each spreading its own work.
    static let concurrentMembersMaximumPrompts = 8

    public func predict(_ input: EstimatorInput) -> [[Double]] {
        let members = members
        let outputs =
            input.count <= Self.concurrentMembersMaximumPrompts
            ? Parallel.map(members.count) { members[$0].predict(input) } : members.map { $0.predict(input) }
        var sum = outputs[0]
        for next in outputs.dropFirst() {
            for i in sum.indices { for m in sum[i].indices { sum[i][m] += next[i][m] } }
        }
        let scale = 1 / Double(members.count)
        return sum.map { $0.map { $0 * scale } }
    }

    /// Every proper, non-empty subset of the members as an ensemble of its own (single members alone), in order
    /// of size, then of the members' order.
    public func memberSubsets() -> [any QualityEstimator] {
        let n = members.count
        guard n > 1, n < 16 else { return [] }
        let masks = (1..<((1 << n) - 1)).sorted {
            $0.nonzeroBitCount != $1.nonzeroBitCount ? $0.nonzeroBitCount < $1.nonzeroBitCount : $0 < $1
        }
        return masks.map { mask in
            let chosen = (0..<n).filter { mask & (1 << $0) != 0 }.map { members[$0] }
            return chosen.count == 1 ? chosen[0] : EnsembleEstimator(members: chosen)
        }
    }

    public func tensors() -> [String: EstimatorTensor] {
        var result: [String: EstimatorTensor] = [:]
        for (index, member) in members.enumerated() {
            for (name, value) in member.tensors() { result["member\(index).\(name)"] = value }
        }
        return result
    }
}
