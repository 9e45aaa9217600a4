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

    public func predict(_ features: Matrix) -> [[Double]] {
        [[Double]](repeating: means, count: features.rows)
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

    public func predict(_ features: Matrix) -> [[Double]] {
        var sum = members[0].predict(features)
        for member in members.dropFirst() {
            let next = member.predict(features)
            for i in sum.indices { for m in sum[i].indices { sum[i][m] += next[i][m] } }
        }
        let scale = 1 / Double(members.count)
        return sum.map { $0.map { $0 * scale } }
    }

    public func tensors() -> [String: EstimatorTensor] {
        var result: [String: EstimatorTensor] = [:]
        for (index, member) in members.enumerated() {
            for (name, value) in member.tensors() { result["member\(index).\(name)"] = value }
        }
        return result
    }
}
