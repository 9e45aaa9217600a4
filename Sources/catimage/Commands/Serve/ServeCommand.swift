import ArgumentParser
import CATImageEncoder
import CATImageGateway
import Foundation
import Logging

/// `catimage serve`: the HTTP gateway in front of the generation servers.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP gateway: route image requests to backends, hold a budget, log every decision.",
        discussion: """
            Endpoints: POST /v1/route, POST /v1/images/generations (OpenAI Images API; model "auto" routes),
            POST /v1/feedback, GET /healthz, GET /metrics (Prometheus), POST /admin/reload (with admin.token_env).
            SIGHUP reloads the router file.

            Examples:
              catimage serve --example-config > gateway.yaml
              catimage serve --config gateway.yaml
              curl -s localhost:8080/v1/route -d '{"prompt": "a red car in the rain"}'
              curl -s localhost:8080/v1/images/generations -d '{"prompt": "a red car", "model": "auto"}'
            """
    )

    @Option(name: .shortAndLong, help: "The YAML config file (see --example-config).")
    var config: String?

    @Option(help: "Listen on this host instead of the config's.")
    var host: String?

    @Option(help: "Listen on this port instead of the config's (0 picks a free port).")
    var port: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Flag(help: "Print a complete, commented config and exit.")
    var exampleConfig = false

    func validate() throws {
        if !exampleConfig && config == nil {
            throw ValidationError("give --config FILE (catimage serve --example-config prints one)")
        }
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be between 0 and 65535") }
        if Logger.Level(rawValue: logLevel) == nil { throw ValidationError("unknown --log-level '\(logLevel)'") }
    }

    func run() async throws {
        if exampleConfig {
            print(GatewayConfig.exampleYAML)
            return
        }
        guard let config else { return }
        var settings: GatewayConfig
        do {
            settings = try GatewayConfig.load(contentsOf: config)
        } catch {
            throw ValidationError("\(error)")
        }
        if let host { settings.listen.host = host }
        if let port { settings.listen.port = port }
        var logger = Logger(label: "catimage.gateway")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let router = try Gateway.loadRouter(
            contentsOf: settings.routerPath, modelDirectory: settings.modelDirectory,
            precision: settings.inference.precision)
        if let encoder = router.encoder as? SentenceEncoder {
            logger.info(
                "encoder loaded",
                metadata: ["model": "\(encoder.modelIdentifier)", "precision": "\(encoder.precision.rawValue)"])
        }
        let gateway: Gateway
        do {
            gateway = try await Gateway.open(config: settings, predictor: router, logger: logger)
        } catch let error as ConfigError {
            throw ValidationError("\(error)")
        } catch let error as PostgresStoreError {
            throw CommandFailure("the decision log: \(error)")
        }
        let listenHost = settings.listen.host
        let app = buildApplication(gateway: gateway, reloadOnHangup: true) { port in
            // A line scripts (and the kill test) read to find the port when it was 0.
            // Written unbuffered, so a pipe sees it at once.
            FileHandle.standardOutput.write(Data("catimage gateway listening on http://\(listenHost):\(port)\n".utf8))
        }
        try await app.runService()
    }
}
