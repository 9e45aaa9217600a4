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

    /// The members by the similarities they read: members that compare the prompts with the same stored features
    /// (``SimilarityEstimator``s on the same view: the sentence features, or one encoder layer) form one group and
    /// share one similarity computation; every other member is a group of its own.
    let groups: [MemberGroup]
    /// The transformer whose fine-tuned vectors two or more groups read (the transformer itself, members on its
    /// fine-tuned view): the ensemble computes them once per prediction and hands them to all.
    let sharedFineTuned: TransformerEstimator?

    public init(members: [any QualityEstimator]) {
        precondition(!members.isEmpty, "an ensemble needs members")
        precondition(Set(members.map(\.outputCount)).count == 1, "ensemble members disagree on output count")
        self.members = members
        self.groups = MemberGroup.grouping(members)
        sharedFineTuned = Self.sharedFineTuned(groups: groups, members: members)
    }

    /// The transformer read by more than one of `groups`, if any.
    private static func sharedFineTuned(groups: [MemberGroup], members: [any QualityEstimator])
        -> TransformerEstimator?
    {
        let readers = groups.compactMap { group -> TransformerEstimator? in
            switch group {
            case .single(let index):
                return members[index] as? TransformerEstimator
                    ?? (members[index] as? FineTunedViewEstimator)?.transformer
            case .sharedSimilarities(_, let view, _):
                if case .fineTuned(let transformer) = view { return transformer }
                return nil
            }
        }
        guard let first = readers.first,
            readers.filter({ $0.encoderIdentity == first.encoderIdentity }).count > 1
        else { return nil }
        return first
    }

    /// `input` carrying the fine-tuned vectors that several members read (``sharedFineTuned``).
    private func sharingFineTuned(_ input: EstimatorInput) -> EstimatorInput {
        guard let transformer = sharedFineTuned, input.count > 0 else { return input }
        return input.withFineTunedPooled(transformer.pooled(for: input), encoder: transformer.encoderIdentity)
    }

    public var spec: EstimatorSpec { .ensemble(members.map(\.spec)) }
    public var outputCount: Int { members[0].outputCount }

    /// The members (by index) that share one similarity computation per prediction: kNN, kernel and krr members
    /// that compare the prompts with the same stored features on the same view (the sentence features, or one
    /// encoder layer), one list per shared computation.
    public var sharedSimilarityGroups: [[Int]] { groups.compactMap(\.sharedIndices) }

    /// Inputs of at most this many prompts (a served decision) have their member groups (``groups``) predict side by
    /// side on the cores: each group of neighbour or kernel estimators reads its whole store of training prompts
    /// (15 MB for 10,000), so one prompt's members are bound by memory bandwidth, not by the arithmetic. Larger
    /// inputs run the groups one after another, each spreading its own work.
    static let concurrentMembersMaximumPrompts = 8

    public func predict(_ input: EstimatorInput) -> [[Double]] {
        let (members, groups) = (members, groups)
        let input = sharingFineTuned(input)
        let outputs =
            input.count <= Self.concurrentMembersMaximumPrompts
            ? Parallel.map(groups.count) { groups[$0].predictSum(input, members: members) }
            : groups.map { $0.predictSum(input, members: members) }
        var sum = outputs[0]
        for next in outputs.dropFirst() { add(next, to: &sum) }
        let scale = 1 / Double(members.count)
        return sum.map { $0.map { $0 * scale } }
    }

    /// Every proper, non-empty subset of the members as an ensemble of its own (single members alone), in order
    /// of size, then of the members' order.
    public func memberSubsets() -> [any QualityEstimator] {
        Self.subsetIndices(count: members.count).map { chosen in
            chosen.count == 1 ? members[chosen[0]] : EnsembleEstimator(members: chosen.map { members[$0] })
        }
    }

    /// The members' indices of every proper, non-empty subset of `count` members, in order of size, then of the
    /// members' order (none below 2 or from 16 members).
    private static func subsetIndices(count n: Int) -> [[Int]] {
        guard n > 1, n < 16 else { return [] }
        let masks = (1..<((1 << n) - 1)).sorted {
            $0.nonzeroBitCount != $1.nonzeroBitCount ? $0.nonzeroBitCount < $1.nonzeroBitCount : $0 < $1
        }
        return masks.map { mask in (0..<n).filter { mask & (1 << $0) != 0 } }
    }

    /// The predictions for `input` of every proper, non-empty subset of the members (as ``memberSubsets()`` lists
    /// them), each the plain average of its members: every member predicts once (the fine-tuned vectors computed
    /// once too), not once per subset.
    public func memberSubsetPredictions(_ input: EstimatorInput) -> [(spec: EstimatorSpec, predicted: [[Double]])] {
        let subsets = Self.subsetIndices(count: members.count)
        guard !subsets.isEmpty else { return [] }
        let shared = sharingFineTuned(input)
        let each = members.map { $0.predict(shared) }
        return subsets.map { chosen in
            let spec = chosen.count == 1 ? members[chosen[0]].spec : .ensemble(chosen.map { members[$0].spec })
            var sum = each[chosen[0]]
            for index in chosen.dropFirst() { add(each[index], to: &sum) }
            let scale = 1 / Double(chosen.count)
            return (spec, sum.map { $0.map { $0 * scale } })
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

/// Ensemble members that are predicted together (``EnsembleEstimator/groups``).
enum MemberGroup: Sendable {
    /// One member, predicting on its own.
    case single(Int)
    /// Similarity members (their indices and the members themselves) that read the same view with equal stored
    /// features: one similarity computation serves them all.
    case sharedSimilarities(indices: [Int], view: SimilarityView, members: [any SimilarityEstimator])

    /// The groups of `members`: similarity members on the same view whose stored features are equal share a group
    /// (a fitted ensemble's members hold one array; a router file stores it once), in the order of their first
    /// member.
    static func grouping(_ members: [any QualityEstimator]) -> [MemberGroup] {
        var groups: [(indices: [Int], view: SimilarityView?, members: [any SimilarityEstimator])] = []
        for (index, member) in members.enumerated() {
            guard let (view, similarity) = SimilarityView.of(member) else {
                groups.append(([index], nil, []))
                continue
            }
            if let g = groups.firstIndex(where: { group in
                group.view?.isSame(as: view) == true
                    && group.members.first.map { $0.features == similarity.features } == true
            }) {
                groups[g].indices.append(index)
                groups[g].members.append(similarity)
            } else {
                groups.append(([index], view, [similarity]))
            }
        }
        return groups.map {
            if let view = $0.view, $0.members.count > 1 {
                return .sharedSimilarities(indices: $0.indices, view: view, members: $0.members)
            }
            return .single($0.indices[0])
        }
    }

    /// The members' indices that share one similarity computation (`nil` for a single member).
    var sharedIndices: [Int]? {
        if case .sharedSimilarities(let indices, _, _) = self { return indices }
        return nil
    }

    /// The sum of the group's members' predictions for `input`.
    func predictSum(_ input: EstimatorInput, members: [any QualityEstimator]) -> [[Double]] {
        switch self {
        case .single(let index):
            return members[index].predict(input)
        case .sharedSimilarities(_, let view, let similarityMembers):
            return NeighborEstimator.predictInBatches(view.queries(input), against: similarityMembers[0].features) {
                similarities in
                var sum = similarityMembers[0].predict(similarities: similarities)
                for member in similarityMembers.dropFirst() {
                    add(member.predict(similarities: similarities), to: &sum)
                }
                return sum
            }
        }
    }
}

/// What a similarity member compares the prompts on.
enum SimilarityView: Sendable {
    /// The frozen sentence features.
    case sentence
    /// The means of one encoder layer (``LayerEstimator``).
    case layer(Int)
    /// The fine-tuned vectors of a transformer (``FineTunedViewEstimator``).
    case fineTuned(TransformerEstimator)

    /// The similarity estimator `member` is, or reads through a view, with that view.
    static func of(_ member: any QualityEstimator) -> (view: SimilarityView, estimator: any SimilarityEstimator)? {
        if let similarity = member as? any SimilarityEstimator { return (.sentence, similarity) }
        if let onLayer = member as? LayerEstimator, let similarity = onLayer.estimator as? any SimilarityEstimator {
            return (.layer(onLayer.layer), similarity)
        }
        if let view = member as? FineTunedViewEstimator, let similarity = view.estimator as? any SimilarityEstimator {
            return (.fineTuned(view.transformer), similarity)
        }
        return nil
    }

    func isSame(as other: SimilarityView) -> Bool {
        switch (self, other) {
        case (.sentence, .sentence): return true
        case (.layer(let a), .layer(let b)): return a == b
        case (.fineTuned(let a), .fineTuned(let b)): return a.encoderIdentity == b.encoderIdentity
        default: return false
        }
    }

    /// The queries `[B, D]` of `input`'s prompts on this view.
    func queries(_ input: EstimatorInput) -> Matrix {
        switch self {
        case .sentence: return input.features
        case .layer(let layer): return input.layerMeans(layer)
        case .fineTuned(let transformer): return FineTunedViewEstimator.normalized(transformer.pooled(for: input))
        }
    }
}

/// Adds `values` to `sum` element by element (both `[N][M]`).
private func add(_ values: [[Double]], to sum: inout [[Double]]) {
    for i in sum.indices { for m in sum[i].indices { sum[i][m] += values[i][m] } }
}
