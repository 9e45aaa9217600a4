import CATImageGateway
import CATImageTestSupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

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

    /// Runs `scripts/cluster.sh ARGUMENTS --dir DIRECTORY` and returns its output; fails with its output.
    ///
    /// posix_spawn and a polling `waitpid`, not Foundation's `Process`: its `waitUntilExit` was seen to miss the exit
    /// of a script that leaves daemons behind, and polling keeps the cooperative thread free. Descriptors above 2
    /// are closed in the child, so the replicas and nginx it starts hold none of the test process's sockets.
    @discardableResult
    func script(_ arguments: [String], environment extra: [String: String] = [:]) async throws -> String {
        let outputPath = directory.appendingPathComponent("script-\(UUID().uuidString).out").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // bash closes every descriptor above 2 before running the script (glibc's closefrom action is not exposed).
        let closeAndRun =
            #"for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done 2>/dev/null; exec "$@""#
        let argv =
            [
                "/bin/bash", "-c", closeAndRun, "cluster", "/bin/bash",
                Self.packageRoot.appendingPathComponent("scripts/cluster.sh").path,
            ] + arguments + [
                "--dir", directory.path,
            ]
        let environment = ProcessInfo.processInfo.environment.merging(extra) { _, new in new }.map { "\($0)=\($1)" }
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup($0) } + [nil]
        defer { for pointer in cArguments + cEnvironment { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/bin/bash", &actions, nil, cArguments, cEnvironment)
        guard spawned == 0 else { throw Failure(description: "cannot run cluster.sh: error \(spawned)") }
        var status: Int32 = 0
        for _ in 0..<12_000 {  // at most 10 minutes
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid { break }
            guard waited == 0 else { throw Failure(description: "waitpid failed: errno \(errno)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        // Exited normally with status 0 (wait status: signal in the low 7 bits, exit code in the next byte).
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw Failure(description: "cluster.sh \(arguments.joined(separator: " ")) failed (\(status)):\n\(text)")
        }
        return text
    }

    /// Starts `replicas` replicas of `config` and nginx on `port`; returns the replicas' ports.
    func start(config: String, replicas: Int, port: Int) async throws -> [Int] {
        let nginx = try Self.nginx()
        try await script(
            [
                "start", "--config", config, "--replicas", "\(replicas)", "--port", "\(port)", "--binary",
                try catimageBinary(),
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

    /// Runs `body` with a new cluster folder, then stops what `start` or `postgres-start` started and removes it.
    static func with<T: Sendable>(_ body: (TestCluster) async throws -> T) async throws -> T {
        let cluster = try TestCluster()
        do {
            let result = try await body(cluster)
            await cluster.stop()
            return result
        } catch {
            await cluster.stop()
            throw error
        }
    }

    func stop() async {
        _ = try? await script(["stop"])
        _ = try? await script(["postgres-stop"])
        try? FileManager.default.removeItem(at: directory)
    }

    /// The gateway YAML for the test router with PostgreSQL `settings` (no backend is called: `/v1/route` only).
    static func config(
        postgres settings: GatewayConfig.Log.Postgres, extraPostgres: String = "", budget: String = ""
    ) async throws -> String {
        let router = try await TestRouter.shared()
        let unused = try closedPort()
        var yaml = """
            listen: {host: 127.0.0.1, port: 0}
            router: \(try await TestRouter.path())
            model_dir: \(try miniLMDirectory())
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
