import CATImageGateway
import Foundation
import Logging
import PostgresNIO

/// The PostgreSQL server the tests write to: `$CATIMAGE_TEST_POSTGRES` (`HOST:PORT`, user `catimage` with trust
/// authentication, as `scripts/cluster.sh postgres-start` makes it). Each test gets a database of its own.
enum TestPostgres {
    static let variable = "CATIMAGE_TEST_POSTGRES"

    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "\(TestPostgres.variable) is not set: these tests need a PostgreSQL server. Start a throw-away one with "
                + "`scripts/cluster.sh postgres-start` and export the line it prints "
                + "(\(TestPostgres.variable)=127.0.0.1:PORT); .ci/run does this itself"
        }
    }

    /// Host and port from the environment.
    static func server() throws -> (host: String, port: Int) {
        guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else { throw Missing() }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else {
            throw ConfigError(file: variable, key: "", value: value, "expected HOST:PORT")
        }
        return (String(parts[0]), port)
    }

    /// Settings for a new, empty database on the test server.
    static func freshDatabase() async throws -> GatewayConfig.Log.Postgres {
        let (host, port) = try server()
        let name = "catimage_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let client = PostgresClient(
            configuration: .init(
                host: host, port: port, username: "catimage", password: nil, database: "postgres",
                tls: .disable))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
            group.cancelAll()
        }
        var settings = GatewayConfig.Log.Postgres(database: name, user: "catimage")
        settings.host = host
        settings.port = port
        return settings
    }

    static let logger = Logger(label: "catimage.tests.postgres")
}
