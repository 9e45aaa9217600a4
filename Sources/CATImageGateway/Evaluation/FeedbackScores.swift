/// The feedback of one metric as one score per request: several rows of a request are averaged.
public struct FeedbackScores: Sendable, Equatable {
    /// The metric chosen (`nil`: unnamed feedback).
    public var metric: String?
    /// Mean score per request id.
    public var scores: [String: Double]

    /// Chooses the metric (`requested`, else the only one present) and averages its rows per request.
    ///
    /// Throws ``OffPolicyError`` `.unknownMetric` when no row has the requested metric, `.ambiguousMetric` when
    /// none was requested and several are present, `.noFeedback` when there is none at all.
    public init(_ feedback: [FeedbackRecord], metric requested: String?) throws {
        let present = Set(feedback.map { $0.metric ?? "" })
        let listed = present.sorted().map { $0.isEmpty ? "(unnamed)" : $0 }.joined(separator: ", ")
        let none = "the log has no feedback at all (POST /v1/feedback, or a scoring: section)"
        let metric: String?
        if let requested {
            guard present.contains(requested) else {
                throw OffPolicyError(
                    .unknownMetric, value: requested,
                    feedback.isEmpty ? none : "no feedback has metric '\(requested)' (the log has: \(listed))")
            }
            metric = requested
        } else {
            guard !feedback.isEmpty else { throw OffPolicyError(.noFeedback, none) }
            guard present.count == 1, let only = present.first else {
                throw OffPolicyError(.ambiguousMetric, "the feedback has several metrics (\(listed)): choose one")
            }
            metric = only.isEmpty ? nil : only
        }
        var sums: [String: (total: Double, count: Int)] = [:]
        for item in feedback where item.metric == metric && item.score.isFinite {
            sums[item.requestID, default: (0, 0)].total += item.score
            sums[item.requestID, default: (0, 0)].count += 1
        }
        self.metric = metric
        self.scores = sums.mapValues { $0.total / Double($0.count) }
    }
}
