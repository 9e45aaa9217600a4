import Foundation

/// A quality score attached to a logged decision after the fact (a user's rating, a judge, the gateway's scorer).
public struct FeedbackRecord: Sendable, Equatable {
    public var time: Date
    /// The decision's request ID.
    public var requestID: String
    public var score: Double
    /// The metric's name; `nil` is unnamed.
    public var metric: String?
    /// Who scored: `user`, `rating`, `judge`, `scorer`, ...
    public var source: String?

    public init(time: Date, requestID: String, score: Double, metric: String? = nil, source: String? = nil) {
        self.time = time
        self.requestID = requestID
        self.score = score
        self.metric = metric
        self.source = source
    }
}
