import Hummingbird
import Logging
import ServiceLifecycle

/// The gateway's routes: `/v1/route`, `/v1/images/generations` (behind bearer auth when tokens are configured),
/// `/healthz` and `/metrics`.
public func buildRouter(gateway: Gateway) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: MetricsMiddleware(metrics: gateway.metrics))
    router.add(middleware: JSONErrorMiddleware())
    OperationsController(gateway: gateway).addRoutes(to: router)
    let api = router.group("v1")
    if gateway.config.auth.isEnabled {
        api.add(middleware: BearerAuthMiddleware(tokens: gateway.config.auth.tokens))
    }
    api.addRoutes(RouteController(gateway: gateway).endpoints, atPath: "route")
    api.addRoutes(ImagesController(gateway: gateway).endpoints, atPath: "images/generations")
    return router
}

/// The gateway as a Hummingbird application listening where the config says, with the gateway's resources as a
/// service that is shut down after the server stops.
public func buildApplication(
    gateway: Gateway, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    Application(
        router: buildRouter(gateway: gateway),
        configuration: .init(
            address: .hostname(gateway.config.listen.host, port: gateway.config.listen.port),
            serverName: "catimage-gateway"),
        services: [GatewayService(gateway: gateway)],
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
        logger: gateway.logger)
}

/// Keeps the gateway's threads, HTTP client and log alive while the application runs; releases them on shutdown.
struct GatewayService: Service {
    let gateway: Gateway

    func run() async throws {
        try? await gracefulShutdown()
        try await gateway.shutdown()
    }
}
