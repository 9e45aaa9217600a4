import Foundation
import Logging

extension Gateway {
    /// The gateway with the store its config names: connects to PostgreSQL and migrates it when `log.postgres` is
    /// set (and starts the fleet budget when `log.postgres.fleet_budget` is true), else opens the SQLite log.
    public static func open(
        config: GatewayConfig, predictor: any QualityPredictor,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "catimage.gateway")
    ) async throws -> Gateway {
        guard let settings = config.log.postgres else {
            return try Gateway(config: config, predictor: predictor, environment: environment, logger: logger)
        }
        if settings.fleetBudget && config.budget.targetMeanCost == nil {
            throw ConfigError(
                file: config.file, key: "log.postgres.fleet_budget", value: "true",
                "a fleet budget needs budget.target_mean_cost")
        }
        let store = try await PostgresDecisionLog.open(settings: settings, logger: logger)
        let gateway: Gateway
        do {
            gateway = try Gateway(
                config: config, predictor: predictor, store: store, environment: environment, logger: logger)
        } catch {
            await store.close()
            throw error
        }
        if settings.fleetBudget {
            let name =
                settings.replica ?? "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
            let fleet = FleetBudget(replica: name, controller: gateway.budget, store: store, logger: logger)
            store.fleetBudget.withLockedValue { $0 = fleet }
            // Ends by itself once the gateway's shutdown closes the store.
            Task { await fleet.run() }
        }
        return gateway
    }
}
