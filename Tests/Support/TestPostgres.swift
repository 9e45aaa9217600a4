import Foundation
import PostgresNIO

/// The PostgreSQL server the tests write to: `$CATIMAGE_TEST_POSTGRES` (`HOST:PORT`, user `catimage` with trust
/// authentication, as `scripts/cluster.sh postgres-start` makes it). Each test gets a database of its own.
public enum TestPostgres {
    /// The environment variable naming the server.
    public static let variable = "CATIMAGE_TEST_POSTGRES"
    /// The superuser `scripts/cluster.sh` creates, trusted on 127.0.0.1.
    public static let user = "catimage"

    /// A new, empty database on the test server.
    public struct Database: Sendable {
        public var host: String
        public var port: Int
        public var name: String
    }

    /// `$CATIMAGE_TEST_POSTGRES` is not set.
    public struct Missing: Error, CustomStringConvertible {
        public var description: String {
            "\(TestPostgres.variable) is not set: these tests need a PostgreSQL server. Start a throw-away one with "
                + "`scripts/cluster.sh postgres-start` and export the line it prints "
                + "(\(TestPostgres.variable)=127.0.0.1:PORT); .ci/run does this itself"
        }
    }

    /// `$CATIMAGE_TEST_POSTGRES` is not `HOST:PORT`.
    public struct Malformed: Error, CustomStringConvertible {
        /// The variable's value.
        public var value: String

        public var description: String { "\(TestPostgres.variable)=\(value): expected HOST:PORT" }
    }

    /// Host and port from the environment.
    public static func server() throws -> (host: String, port: Int) {
        guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else { throw Missing() }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { throw Malformed(value: value) }
        return (String(parts[0]), port)
    }

    /// Creates a new, empty database on the test server, named `prefix` and a random UUID's hex digits.
    public static func createDatabase(prefix: String) async throws -> Database {
        let (host, port) = try server()
        let name = prefix + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let client = PostgresClient(
            configuration: .init(
                host: host, port: port, username: user, password: nil, database: "postgres", tls: .disable))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
            group.cancelAll()
        }
        return Database(host: host, port: port, name: name)
    }
}
