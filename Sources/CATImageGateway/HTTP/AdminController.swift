import Dispatch
import Foundation
import Hummingbird
import ServiceLifecycle

/// `POST /admin/reload`: reloads the router file; 409 when the new router's generators do not match (or a reload is
/// running), 422 when the file is not a valid router. The running router stays on any refusal.
struct AdminController<Context: RequestContext> {
    let gateway: Gateway

    var endpoints: RouteCollection<Context> {
        RouteCollection(context: Context.self).post(use: reload)
    }

    struct Reloaded: Encodable {
        var routerDigest: String?
        var previousDigest: String?
        var generators: [String]
        var path: String
    }

    @Sendable func reload(_ request: Request, context: Context) async throws -> Response {
        let digests: (previous: String?, current: String?)
        do {
            digests = try await gateway.reloadRouter()
        } catch {
            context.logger.warning(
                "router reload refused; the running router stays",
                metadata: ["reason": "\(error)", "digest": "\(gateway.router.digest ?? "none")"])
            switch error.code {
            case .mismatch:
                throw GatewayError(.conflict, code: "router_mismatch", error.description)
            case .busy:
                throw GatewayError(.conflict, code: "reload_in_progress", error.description)
            case .invalid:
                throw GatewayError(.unprocessableContent, code: "router_invalid", error.description)
            }
        }
        return try JSONResponse.make(
            Reloaded(
                routerDigest: digests.current, previousDigest: digests.previous, generators: gateway.generatorNames,
                path: gateway.config.routerPath))
    }
}

/// Reloads the router file on SIGHUP, until the application shuts down.
struct HangupReloadService: Service {
    let gateway: Gateway

    func run() async throws {
        // Ignore the default action (terminate); the dispatch source still sees the signal.
        signal(SIGHUP, SIG_IGN)
        let (signals, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler { continuation.yield() }
        source.resume()
        defer { source.cancel() }
        await withGracefulShutdownHandler {
            for await _ in signals {
                gateway.logger.info("SIGHUP: reloading the router", metadata: ["path": "\(gateway.config.routerPath)"])
                await gateway.reloadRouterLogging(trigger: "SIGHUP")
            }
        } onGracefulShutdown: {
            continuation.finish()
        }
    }
}
