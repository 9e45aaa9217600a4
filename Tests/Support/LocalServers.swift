import Foundation
import Hummingbird
import Logging

/// Runs a Hummingbird application per router on 127.0.0.1, each on an ephemeral port, for the duration of `body`,
/// which gets the ports in the order of `routers`. The servers stop when `body` returns or throws.
public func withLocalServers<T: Sendable>(
    _ routers: [Router<BasicRequestContext>], _ body: @Sendable ([Int]) async throws -> T
) async throws -> T {
    var logger = Logger(label: "stand-in")
    logger.logLevel = .critical
    return try await withThrowingTaskGroup(of: Void.self) { group in
        var ports: [Int] = []
        for router in routers {
            let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
            let app = Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { channel in
                    continuation.yield(channel.localAddress?.port ?? 0)
                    continuation.finish()
                }, logger: logger)
            group.addTask { try await app.runService(gracefulShutdownSignals: []) }
            var iterator = stream.makeAsyncIterator()
            guard let port = await iterator.next(), port > 0 else { throw LocalServerError.noPort }
            ports.append(port)
        }
        defer { group.cancelAll() }
        return try await body(ports)
    }
}

/// A port on 127.0.0.1 with nothing listening (bound, then closed): connections to it are refused.
public func closedPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    guard bound == 0 else { throw LocalServerError.noPort }
    var actual = sockaddr_in()
    _ = withUnsafeMutablePointer(to: &actual) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: actual.sin_port))
}

/// A local server did not report the port it listens on (or a port could not be bound).
public enum LocalServerError: Error {
    case noPort
}
