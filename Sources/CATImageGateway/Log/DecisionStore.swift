import Foundation

/// Where the gateway writes its decisions and feedback, and where `catimage log` reads them: the SQLite
/// ``DecisionLog`` on one machine, the ``PostgresDecisionLog`` shared by a fleet of replicas.
///
/// `append(_:)` returns when the store's durability rule for the row is met (see each store); readers return
/// rows oldest first.
public protocol DecisionStore: Sendable {
    /// Writes one decision.
    func append(_ record: DecisionRecord) async throws
    /// Writes one feedback row.
    func appendFeedback(_ feedback: FeedbackRecord) async throws
    /// Whether a decision with this request ID is stored.
    func containsDecision(requestID: String) async throws -> Bool
    /// Every decision, oldest first.
    func records() async throws -> [DecisionRecord]
    /// Every feedback row, oldest first.
    func feedback() async throws -> [FeedbackRecord]
    /// Number of decisions stored.
    func count() async throws -> Int
    /// Writes what is still pending (as far as the store can) and releases connections.
    func close() async
}

extension DecisionStore {
    public func close() async {}
}
