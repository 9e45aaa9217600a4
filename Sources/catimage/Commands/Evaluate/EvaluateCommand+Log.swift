import ArgumentParser
import CATImage
import CATImageGateway
import Foundation

/// The options of `catimage evaluate --log`: off-policy evaluation of a candidate router on a decision log.
struct OffPolicyOptions: ParsableArguments {
    @Option(
        help: """
            A decision log (the gateway's SQLite log.path) with propensities and feedback: estimate what --router \
            would have done on its traffic, off-policy, instead of evaluating on a dataset.
            """)
    var log: String?

    @Option(help: "With --log: the candidate router file.")
    var router: String?

    @Option(help: "With --log: the candidate's λ (default: the router's own).")
    var lambda: Double?

    @Option(help: "With --log: the candidate's mean-cost budget, turned into λ by its calibration table.")
    var budget: Double?

    @Option(help: "With --log: two-sided confidence of the normal-approximation intervals.")
    var confidence = 0.95

    func validate() throws {
        guard log != nil || router == nil else { throw ValidationError("--router goes with --log") }
        guard log != nil else {
            if lambda != nil || budget != nil {
                throw ValidationError("--lambda and --budget go with --log (evaluate sweeps λ on a dataset)")
            }
            return
        }
        guard router != nil else { throw ValidationError("--log needs --router: the candidate router file") }
        if lambda != nil && budget != nil { throw ValidationError("give --lambda or --budget, not both") }
        if let lambda, !(lambda >= 0) { throw ValidationError("--lambda must be ≥ 0, got \(lambda)") }
        if !(confidence > 0 && confidence < 1) {
            throw ValidationError("--confidence must be between 0 and 1, got \(confidence)")
        }
    }
}

extension EvaluateCommand {
    /// `evaluate --log`: one library call, then the table (or JSON).
    func runOffPolicy(log: String, router: String) throws {
        let options = OffPolicyEvaluation.Options(
            metric: data.metric, lambda: offPolicy.lambda, budget: offPolicy.budget,
            confidence: offPolicy.confidence)
        let report: OffPolicyReport
        do {
            report = try OffPolicyEvaluation.evaluate(
                logPath: log, routerPath: router, modelDirectory: features.modelFolder.directory, options: options)
        } catch let error as OffPolicyError {
            throw CommandFailure(error.message)
        } catch let error as RouterFileError {
            throw CommandFailure(error.description)
        }
        if json {
            try JSONOutput.print(report)
        } else {
            printOffPolicy(report, log: log, router: router)
        }
    }

    func printOffPolicy(_ report: OffPolicyReport, log: String, router: String) {
        let level = Format.fixed(report.confidence * 100, 0) + "%"
        print(
            "\(Terminal.bold("Off-policy evaluation")) of \(router) on \(log), metric "
                + (report.metric ?? "(unnamed)") + ", candidate λ = \(Format.fixed(report.candidate.lambda, 4))")
        let rows = report.rows
        print(
            "  \(rows.decisions) decisions: \(rows.usable) usable; excluded \(rows.forced) forced (no propensity), "
                + "\(rows.noFeedback) without feedback, \(rows.fallback) served by a fallback, "
                + "\(rows.notServed) not served")
        print("")
        func interval(_ value: OffPolicyInterval?) -> String {
            guard let value else { return "-" }
            return Format.fixed(value.estimate) + " ± " + Format.fixed(value.high - value.estimate)
        }
        var table = TextTable(["policy", "estimator", "mean quality (± \(level) CI)", "mean cost"])
        let deployed = report.deployed
        table.add([
            "deployed", "realised", interval(deployed.quality), deployed.cost.map { Format.fixed($0, 4) } ?? "-",
        ])
        let candidate = report.candidate
        let cost = Format.fixed(candidate.cost, 4)
        table.add(["candidate", "IPS", interval(candidate.ips), cost])
        table.add(["candidate", "SNIPS", interval(candidate.snips), cost])
        table.add(["candidate", "DR", interval(candidate.dr), cost])
        print(table.render())
        print("")
        var shares = TextTable(["policy"] + report.generators)
        shares.add(["deployed"] + report.generators.map { Format.percent(deployed.shares[$0] ?? 0) })
        shares.add(["candidate"] + report.generators.map { Format.percent(candidate.shares[$0] ?? 0) })
        print(shares.render())
        print(
            "candidate agrees with the logged pick on \(Format.percent(candidate.agreement)) of rows; effective "
                + "sample size \(Format.fixed(candidate.effectiveSampleSize, 0)); explored rows "
                + Format.percent(deployed.exploredShare))
        print("DR reward model: \(report.rewardModel)")
        print("candidate cost: its router's per-generator cost of each pick (only the served one is realised)")
    }
}
