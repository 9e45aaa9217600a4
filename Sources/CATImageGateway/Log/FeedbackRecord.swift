import Foundation

/// A score given to a served decision after the fact: a user's thumbs, a rating, a judge, or the gateway's own
/// sampled scoring (`source: "scorer"`). Several may refer to one request.
public struct FeedbackRecord: Sendable, Equatable {
    /// When the feedback arrived.
    public var time: Date
    /// The `request_id` of the decision it scores.
    public var requestID: String
    /// Any higher-is-better number.
    public var score: Double
    /// The metric's name (`clip`, `thumbs`, ...); `nil` when unnamed.
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
