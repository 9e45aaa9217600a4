import Hummingbird
import Logging

/// Where the rating server listens.
public struct RatingServerConfiguration: Sendable {
    /// The address to bind; loopback by default, since the page has no authentication.
    public var host: String
    /// The port (0 picks a free one).
    public var port: Int

    public init(host: String = "127.0.0.1", port: Int = 8090) {
        self.host = host
        self.port = port
    }
}

/// The rating server's routes: the page at `/` and its API under `/api`.
public func buildRatingRouter(session: RatingSession) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: RatingErrorMiddleware())
    router.addRoutes(RatingPageController().endpoints)
    router.addRoutes(RatingAPIController(session: session).endpoints, atPath: "api")
    return router
}

/// The rating server as a Hummingbird application; `onServerRunning` gets the bound port.
public func buildRatingApplication(
    session: RatingSession, configuration: RatingServerConfiguration = .init(), logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    Application(
        router: buildRatingRouter(session: session),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port), serverName: "catimage-rate"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
        logger: logger)
}
