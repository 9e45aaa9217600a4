import Foundation

/// One score given to a served image after the fact (a user's thumbs, a rating, a judge, the gateway's scorer).
public struct FeedbackRecord: Sendable, Equatable {
    public var time: Date
    /// The `request_id` of the decision the score is about.
    public var requestID: String
    /// Any higher-is-better number.
    public var score: Double
    /// What the score measures; `nil` is unnamed.
    public var metric: String?
    /// Who gave it: `user`, `rating`, `judge`, `scorer`, ...
    public var source: String?

    public init(time: Date, requestID: String, score: Double, metric: String? = nil, source: String? = nil) {
        self.time = time
        self.requestID = requestID
        self.score = score
        self.metric = metric
        self.source = source
    }
}
