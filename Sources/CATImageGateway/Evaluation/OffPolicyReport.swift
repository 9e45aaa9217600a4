/// What the off-policy evaluation of a candidate router on a decision log found.
public struct OffPolicyReport: Sendable, Equatable, Codable {
    /// How many logged decisions were used, and why the others were not.
    public struct Rows: Sendable, Equatable, Codable {
        /// Every decision read.
        public var decisions: Int
        /// Served decisions with a propensity and feedback: the rows every estimate rests on.
        public var usable: Int
        /// Decisions that served no image (failures; `/v1/route` decisions are counted here too).
        public var notServed: Int
        /// Served decisions without a propensity (the client forced the model).
        public var forced: Int
        /// Served by a fallback generator, not the one the policy chose (the propensity is not for it).
        public var fallback: Int
        /// Served with a propensity but without feedback of the metric.
        public var noFeedback: Int

        public init(decisions: Int, usable: Int, notServed: Int, forced: Int, fallback: Int, noFeedback: Int) {
            self.decisions = decisions
            self.usable = usable
            self.notServed = notServed
            self.forced = forced
            self.fallback = fallback
            self.noFeedback = noFeedback
        }
    }

    /// The logging (deployed) policy's realised figures on the usable rows.
    public struct Deployed: Sendable, Equatable, Codable {
        /// Mean feedback score of the served images.
        public var quality: OffPolicyInterval
        /// Mean logged cost (`nil` when no usable row has one).
        public var cost: Double?
        /// Share of usable rows per generator.
        public var shares: [String: Double]
        /// Share of usable rows that were explored.
        public var exploredShare: Double
    }

    /// The candidate router's estimated figures on the same rows.
    public struct Candidate: Sendable, Equatable, Codable {
        public var lambda: Double
        public var ips: OffPolicyInterval
        /// `nil` when the candidate never agrees with a logged action.
        public var snips: OffPolicyInterval?
        public var dr: OffPolicyInterval
        /// Mean cost of the candidate's picks from its per-generator cost table (the realised cost of a
        /// generator that did not serve the request is unknown).
        public var cost: Double
        /// Share of usable rows per generator the candidate picks.
        public var shares: [String: Double]
        /// Share of usable rows where the candidate picks the logged action.
        public var agreement: Double
        /// Kish's effective sample size of the importance weights.
        public var effectiveSampleSize: Double
    }

    /// The feedback metric the estimates are of (`nil`: unnamed).
    public var metric: String?
    public var confidence: Double
    /// The generators the logging policy chose among.
    public var generators: [String]
    public var rows: Rows
    public var deployed: Deployed
    public var candidate: Candidate
    /// How the doubly-robust estimate's reward model was fitted.
    public var rewardModel: String
}
