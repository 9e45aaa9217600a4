import CATImageGateway
import Foundation

/// `scripts/cluster.sh`, run from the tests: replicas of the built `catimage` and nginx, or a private PostgreSQL.
struct TestCluster {
    static let nginxVariable = "CATIMAGE_TEST_NGINX"

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "catimage-cluster-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// nginx's path from `$CATIMAGE_TEST_NGINX`.
    static func nginx() throws -> String {
        guard let path = ProcessInfo.processInfo.environment[nginxVariable], !path.isEmpty,
            FileManager.default.isExecutableFile(atPath: path)
        else {
            throw Failure(
                description: "\(nginxVariable) must name the nginx binary (apt-get install -y nginx; "
                    + "export \(nginxVariable)=/usr/sbin/nginx); .ci/run sets it")
        }
        return path
    }

    /// Runs `scripts/cluster.sh ARGUMENTS --dir DIRECTORY` and returns its standard output; fails with its output.
    @discardableResult
    func script(_ arguments: [String], environment extra: [String: String] = [:]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments =
            [Self.packageRoot.appendingPathComponent("scripts/cluster.sh").path] + arguments + [
                "--dir", directory.path,
            ]
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { _, new in new }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw Failure(description: "cluster.sh \(arguments.joined(separator: " ")) failed:\n\(text)")
        }
        return text
    }

    /// Starts `replicas` replicas of `config` and nginx on `port`; returns the replicas' ports.
    func start(config: String, replicas: Int, port: Int) throws -> [Int] {
        let nginx = try Self.nginx()
        try script(
            [
                "start", "--config", config, "--replicas", "\(replicas)", "--port", "\(port)", "--binary",
                try DecisionLogTests.catimageBinary(),
            ], environment: ["CATIMAGE_NGINX": nginx])
        return (1...replicas).map { port + $0 }
    }

    func pid(ofReplica index: Int) throws -> Int32 {
        let text = try String(
            contentsOf: directory.appendingPathComponent("replica-\(index).pid"), encoding: .utf8)
        guard let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Failure(description: "no pid for replica \(index)")
        }
        return pid
    }

    func replicaLog(_ index: Int) -> String {
        (try? String(contentsOf: directory.appendingPathComponent("replica-\(index).log"), encoding: .utf8)) ?? ""
    }

    /// Stops what `start` or `postgres-start` started and removes the folder.
    func stop() {
        _ = try? script(["stop"])
        _ = try? script(["postgres-stop"])
        try? FileManager.default.removeItem(at: directory)
    }

    /// The gateway YAML for the test router with PostgreSQL `settings` (no backend is called: `/v1/route` only).
    static func config(
        postgres settings: GatewayConfig.Log.Postgres, extraPostgres: String = "", budget: String = ""
    ) throws -> String {
        let router = try TestRouter.shared()
        let unused = try closedPort()
        var yaml = """
            listen: {host: 127.0.0.1, port: 0}
            router: \(try TestRouter.path())
            model_dir: \(try TestData.modelDirectory())
            admission: {max_in_flight: 256, max_queue: 1024, queue_timeout_seconds: 30}
            log:
              postgres: {host: \(settings.host), port: \(settings.port), database: \(settings.database), \
            user: \(settings.user)\(extraPostgres)}
            \(budget)
            generators:

            """
        for name in router.generatorNames {
            yaml += "  \(name): {backend: a1111, base_url: \"http://127.0.0.1:\(unused)\"}\n"
        }
        return yaml
    }
}
