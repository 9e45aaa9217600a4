import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// The gateway's routes: `/v1/route`, `/v1/images/generations` (behind bearer auth when tokens are configured, then
/// admission control), `/healthz`, `/readyz` and `/metrics`.
public func buildRouter(gateway: Gateway) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: MetricsMiddleware(metrics: gateway.metrics))
    router.add(middleware: JSONErrorMiddleware())
    OperationsController(gateway: gateway).addRoutes(to: router)
    let api = router.group("v1")
    if gateway.config.auth.isEnabled {
        api.add(middleware: BearerAuthMiddleware(tokens: gateway.config.auth.tokens))
    }
    api.add(middleware: AdmissionMiddleware(admission: gateway.admission))
    api.addRoutes(RouteController(gateway: gateway).endpoints, atPath: "route")
    api.addRoutes(ImagesController(gateway: gateway).endpoints, atPath: "images/generations")
    api.addRoutes(FeedbackController(gateway: gateway).endpoints, atPath: "feedback")
    // Admin routes only with an admin token (a separate one: a /v1 client cannot swap the router); else 404.
    if let token = gateway.config.admin.token {
        let admin = router.group("admin")
        admin.add(middleware: BearerAuthMiddleware(tokens: [token]))
        admin.addRoutes(AdminController(gateway: gateway).endpoints, atPath: "reload")
    }
    return router
}

/// The gateway as a Hummingbird application listening where the config says, with the gateway's resources as a
/// service that is shut down after the server stops.
///
/// With `reloadOnHangup`, SIGHUP reloads the router file (`catimage serve` sets it).
public func buildApplication(
    gateway: Gateway, reloadOnHangup: Bool = false, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let connections = gateway.config.connections
    var services: [any Service] = [GatewayService(gateway: gateway)]
    if reloadOnHangup { services.append(HangupReloadService(gateway: gateway)) }
    return Application(
        router: buildRouter(gateway: gateway),
        server: connectionGuardedHTTP1(connections),
        configuration: .init(
            address: .hostname(gateway.config.listen.host, port: gateway.config.listen.port),
            serverName: "catimage-gateway",
            // Beyond the cap new connections wait in the listen backlog, so the process never runs out of files.
            availableConnectionsDelegate: MaximumAvailableConnections(
                connections.effectiveMaxConnections, logger: gateway.logger)),
        services: services,
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
        logger: gateway.logger)
}

/// HTTP/1 with the idle timeout, and the header- and body-read timeouts of ``GuardedHTTP1Channel``.
func connectionGuardedHTTP1(_ connections: GatewayConfig.Connections) -> HTTPServerBuilder {
    let idle = TimeAmount.nanoseconds(Int64(connections.idleTimeoutSeconds * 1e9))
    let header = TimeAmount.nanoseconds(Int64(connections.headerTimeoutSeconds * 1e9))
    let body = TimeAmount.nanoseconds(Int64(connections.bodyTimeoutSeconds * 1e9))
    let configuration = HTTP1Channel.Configuration(idleTimeout: idle)
    return HTTPServerBuilder { responder in
        GuardedHTTP1Channel(
            responder: responder, configuration: configuration, headerTimeout: header, bodyTimeout: body)
    }
}

/// Keeps the gateway's threads, HTTP client and log alive while the application runs; releases them on shutdown.
struct GatewayService: Service {
    let gateway: Gateway

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            if let scoring = gateway.scoring { group.addTask { await scoring.run() } }
            try? await gracefulShutdown()
            // Samples still queued are dropped: scoring is best-effort and must not hold up shutdown.
            gateway.scoring?.finish()
            group.cancelAll()
        }
        try await gateway.shutdown()
    }
}
