/// Why a log cannot be evaluated off-policy.
public struct OffPolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// No served decision carries a propensity (exploration off, or every request forced its model).
        case noPropensities
        /// No served decision with a propensity has feedback of the chosen metric.
        case noFeedback
        /// The feedback holds several metrics and none was chosen.
        case ambiguousMetric
        /// No feedback row has the chosen metric.
        case unknownMetric
        /// The candidate router names a generator the logging policy never could choose.
        case unknownGenerator
        /// The candidate's budget is below its cheapest calibrated routing.
        case unmetBudget
        /// The reward model could not be fitted.
        case rewardModel
    }

    public let code: Code
    /// The metric, generator or budget at fault, when there is one.
    public let value: String?
    public let message: String

    public init(_ code: Code, value: String? = nil, _ message: String) {
        self.code = code
        self.value = value
        self.message = message
    }

    public var description: String { message }
}
