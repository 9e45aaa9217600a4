import CATImage
import Logging

extension OffPolicyEvaluation {
    /// Evaluates the router file at `routerPath` on the SQLite decision log at `logPath` (decisions and feedback).
    public static func evaluate(
        logPath: String, routerPath: String, modelDirectory: String? = nil, options: Options = Options(),
        logger: Logger = Logger(label: "catimage.ope")
    ) throws -> OffPolicyReport {
        let log = try DecisionLog(readingFrom: logPath)
        let decisions = try log.records()
        let feedback = try log.feedback()
        let candidate = try Gateway.loadRouter(contentsOf: routerPath, modelDirectory: modelDirectory)
        return try evaluate(
            decisions: decisions, feedback: feedback, candidate: candidate, options: options, logger: logger)
    }
}
