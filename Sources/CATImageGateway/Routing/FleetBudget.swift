import CATImage
import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO

/// The other replicas' part of a fleet's budget, as one replica's controller sees it.
public struct FleetShare: Sendable, Equatable {
    /// The other replicas' windows of predicted qualities (one row per prompt, the router's generator order).
    public var rows: [[Double]]
    /// Each row's weight: its replica's requests per second divided by its window's length, so every replica counts
    /// as much as the traffic it takes.
    public var rowWeights: [Double]
    /// This replica's requests per second (weights its own window).
    public var ownRate: Double
    /// Sum and count of the other replicas' realised costs over their feedback horizons.
    public var realisedSum: Double
    public var realisedCount: Int
    /// Other replicas whose reports are fresh.
    public var replicas: Int

    public init(
        rows: [[Double]], rowWeights: [Double], ownRate: Double, realisedSum: Double, realisedCount: Int,
        replicas: Int
    ) {
        self.rows = rows
        self.rowWeights = rowWeights
        self.ownRate = ownRate
        self.realisedSum = realisedSum
        self.realisedCount = realisedCount
        self.replicas = replicas
    }
}

extension BudgetController {
    /// What a replica publishes: its window, its realised spend over the horizon and its decision count.
    public struct FleetReport: Sendable, Equatable {
        public var window: [[Double]]
        public var realisedSum: Double
        public var realisedCount: Int
        public var decisions: Int
    }

    public var fleetReport: FleetReport {
        state.withLockedValue {
            FleetReport(
                window: $0.window, realisedSum: $0.realisedSum, realisedCount: $0.realised.count,
                decisions: $0.decisions)
        }
    }

    /// Steers on the fleet from now on (`nil`: on this replica alone).
    public func setFleet(_ share: FleetShare?) {
        state.withLockedValue { $0.fleet = share }
    }

    public var fleet: FleetShare? { state.withLockedValue { $0.fleet } }

    /// The smallest λ whose routing of every replica's window, weighted by traffic, costs at most `budget`: the
    /// fleet's one λ (the dual of the fleet's budget problem), solved on a sample of the fleet's prompt mix.
    static func solveFleetLambda(
        window: [[Double]], fleet: FleetShare, costs: [Double], budget: Double, available: [Bool]?
    ) -> Double {
        let ownWeight = window.isEmpty ? 0 : max(fleet.ownRate, 1e-9) / Double(window.count)
        var rows = window
        var weights = Array(repeating: ownWeight, count: window.count)
        for (row, weight) in zip(fleet.rows, fleet.rowWeights) where row.count == costs.count && weight > 0 {
            rows.append(row)
            weights.append(weight)
        }
        var liveCosts = costs
        if let available, available.count == costs.count, available.contains(true), available.contains(false) {
            let live = costs.indices.filter { available[$0] }
            rows = rows.map { row in live.map { row[$0] } }
            liveCosts = live.map { costs[$0] }
        }
        return solveLambda(rows: rows, weights: weights, costs: liveCosts, budget: budget)
    }
}

/// Holds one budget for a fleet of replicas through the shared PostgreSQL store.
///
/// Every `report_interval_seconds` a replica upserts its row of `budget_reports`: its controller's window of
/// predicted qualities (the last `budget.window` prompts), its request rate, and the sum and count of its realised
/// costs over the feedback horizon. It then reads the other replicas' fresh rows (updated within
/// `report_stale_seconds`, by the server's clock) and hands them to its controller (``FleetShare``), which from then
/// on solves λ on the union of the windows, each weighted by its replica's traffic, and feeds back the fleet's
/// realised mean instead of its own. Every replica thus converges on the same λ: the one at which the fleet's
/// traffic costs the target. A replica whose prompts are expensive spends more than the target and one whose
/// prompts are cheap spends less, as one process would with the whole traffic.
///
/// Lag: a replica sees the others' windows at most one interval plus a round trip late. When PostgreSQL is down the
/// last reports are used until they are stale, then each replica holds the target on its own traffic.
public final class FleetBudget: Sendable {
    /// For `/metrics`.
    public struct Status: Sendable, Equatable {
        public var replicas: Int
        public var fleetRealisedMeanCost: Double?
        public var ownRate: Double
        public var reportErrors: UInt64
    }

    public let replica: String
    let controller: BudgetController
    let store: PostgresDecisionLog
    let logger: Logger
    private let status = NIOLockedValueBox(Status(replicas: 0, fleetRealisedMeanCost: nil, ownRate: 0, reportErrors: 0))

    public init(replica: String, controller: BudgetController, store: PostgresDecisionLog, logger: Logger) {
        self.replica = replica
        self.controller = controller
        self.store = store
        self.logger = logger
    }

    public var snapshot: Status { status.withLockedValue { $0 } }

    /// Reports and reads every interval until the store is closed.
    public func run() async {
        let interval = store.settings.reportIntervalSeconds
        var last = (decisions: controller.fleetReport.decisions, time: ContinuousClock.now)
        var rate = 0.0
        var lastFresh = ContinuousClock.now
        var lastWarning: ContinuousClock.Instant?
        while !store.isClosed {
            try? await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
            if store.isClosed || Task.isCancelled { return }
            let report = controller.fleetReport
            let now = ContinuousClock.now
            let elapsed = max((now - last.time).seconds, 1e-3)
            let instant = Double(report.decisions - last.decisions) / elapsed
            // Smoothed over about five intervals, so one quiet second does not zero a replica's weight.
            rate = rate == 0 ? instant : 0.8 * rate + 0.2 * instant
            last = (report.decisions, now)
            do {
                let others = try await exchange(report: report, rate: rate)
                lastFresh = now
                let share = Self.share(others: others, ownRate: rate)
                controller.setFleet(share)
                let fleetCount = report.realisedCount + (share?.realisedCount ?? 0)
                status.withLockedValue {
                    $0.replicas = 1 + (share?.replicas ?? 0)
                    $0.ownRate = rate
                    $0.fleetRealisedMeanCost =
                        fleetCount > 0 ? (report.realisedSum + (share?.realisedSum ?? 0)) / Double(fleetCount) : nil
                }
            } catch {
                status.withLockedValue { $0.reportErrors += 1 }
                if (now - lastFresh).seconds > store.settings.reportStaleSeconds { controller.setFleet(nil) }
                if lastWarning.map({ now - $0 > .seconds(10) }) ?? true {
                    lastWarning = now
                    logger.warning(
                        "fleet budget report failed; steering on the last fleet view until it is stale",
                        metadata: ["error": "\(PostgresDecisionLog.describe(error))"])
                }
            }
        }
    }

    struct Report: Sendable {
        var rate: Double
        var realisedSum: Double
        var realisedCount: Int
        var rows: [[Double]]
    }

    /// Upserts this replica's report and reads the other replicas' fresh ones.
    func exchange(report: BudgetController.FleetReport, rate: Double) async throws -> [Report] {
        let generators = report.window.first?.count ?? 0
        let flat = report.window.flatMap { $0 }
        let replica = self.replica
        let stale = store.settings.reportStaleSeconds
        let timeout = max(store.settings.reportIntervalSeconds * 2, store.settings.connectTimeoutSeconds)
        return try await store.deadline(timeout, "exchanging budget reports") { client in
            for try await _ in try await client.query(
                """
                INSERT INTO budget_reports (replica, updated_at, decisions, rate, realised_sum, realised_count,
                    window_rows, generators)
                VALUES (\(replica), now(), \(report.decisions), \(rate), \(report.realisedSum), \(report.realisedCount),
                    \(flat), \(generators))
                ON CONFLICT (replica) DO UPDATE SET updated_at = EXCLUDED.updated_at, decisions = EXCLUDED.decisions,
                    rate = EXCLUDED.rate, realised_sum = EXCLUDED.realised_sum,
                    realised_count = EXCLUDED.realised_count, window_rows = EXCLUDED.window_rows,
                    generators = EXCLUDED.generators
                """)
            {}
            var others: [Report] = []
            for try await (rate, sum, count, rows, width) in try await client.query(
                """
                SELECT rate, realised_sum, realised_count, window_rows, generators FROM budget_reports
                WHERE replica <> \(replica) AND updated_at > now() - make_interval(secs => \(stale))
                """
            ).decode((Double, Double, Int, [Double], Int).self) {
                guard width > 0, rows.count % width == 0 else { continue }
                let window = stride(from: 0, to: rows.count, by: width).map { Array(rows[$0..<($0 + width)]) }
                others.append(Report(rate: rate, realisedSum: sum, realisedCount: count, rows: window))
            }
            return others
        }
    }

    /// The controller's view of the other replicas (`nil` when none is fresh).
    static func share(others: [Report], ownRate: Double) -> FleetShare? {
        guard !others.isEmpty else { return nil }
        var share = FleetShare(
            rows: [], rowWeights: [], ownRate: ownRate, realisedSum: 0, realisedCount: 0, replicas: others.count)
        for other in others {
            share.realisedSum += other.realisedSum
            share.realisedCount += other.realisedCount
            guard !other.rows.isEmpty else { continue }
            let weight = max(other.rate, 0) / Double(other.rows.count)
            share.rows += other.rows
            share.rowWeights += Array(repeating: weight, count: other.rows.count)
        }
        return share
    }

    /// `/metrics` lines.
    func renderMetrics() -> String {
        let status = snapshot
        var out = ""
        out += "# HELP catimage_fleet_replicas Replicas whose budget reports are fresh, this one included.\n"
        out += "# TYPE catimage_fleet_replicas gauge\ncatimage_fleet_replicas \(status.replicas)\n"
        out += "# HELP catimage_fleet_realised_mean_cost Realised mean cost over every replica's feedback horizon.\n"
        out += "# TYPE catimage_fleet_realised_mean_cost gauge\n"
        out += "catimage_fleet_realised_mean_cost \(GatewayMetrics.number(status.fleetRealisedMeanCost ?? 0))\n"
        out += "# HELP catimage_fleet_report_errors_total Budget report exchanges that failed.\n"
        out += "# TYPE catimage_fleet_report_errors_total counter\n"
        out += "catimage_fleet_report_errors_total \(status.reportErrors)\n"
        return out
    }
}
