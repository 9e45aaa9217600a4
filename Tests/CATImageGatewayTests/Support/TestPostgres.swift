import CATImageGateway
import CATImageTestSupport
import Logging

extension TestPostgres {
    /// Settings for a new, empty database on the test server.
    static func freshDatabase() async throws -> GatewayConfig.Log.Postgres {
        let database = try await createDatabase(prefix: "catimage_test_")
        var settings = GatewayConfig.Log.Postgres(database: database.name, user: user)
        settings.host = database.host
        settings.port = database.port
        return settings
    }

    static let logger = Logger(label: "catimage.tests.postgres")
}
