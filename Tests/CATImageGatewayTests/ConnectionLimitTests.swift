import CATImageGateway
import Foundation
import Testing

/// Raw sockets against a live gateway: idle, slow and lying clients are cut off quickly and never drained.
@Suite("Connection limits over raw sockets", .serialized)
struct ConnectionLimitTests {
    let harness: GatewayHarness

    init() async throws { harness = try GatewayHarness(predictor: try await TestRouter.shared()) }

    /// Timeouts short enough for a test, against the defaults' tens of seconds; bounds below stay far above them.
    static func tight(_ config: inout GatewayConfig) {
        config.connections.idleTimeoutSeconds = 0.5
        config.connections.headerTimeoutSeconds = 0.5
        config.connections.bodyTimeoutSeconds = 0.5
        config.limits.maxBodyBytes = 4096
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let (whole, fraction) = (ContinuousClock.now - start).components
        return Double(whole) + Double(fraction) * 1e-18
    }

    @Test("an idle connection is closed after the idle timeout")
    func idleConnection() async throws {
        try await harness.run(customise: Self.tight) { client, _ in
            let socket = try RawSocket(port: try #require(client.port))
            let result = await socket.readUntilClosed(within: 10)
            #expect(result.closed)
            #expect(result.seconds < 5, "closed after \(result.seconds) s")
        }
    }

    @Test("a client sending its headers a byte at a time is cut off at the header timeout")
    func slowHeaders() async throws {
        try await harness.run(customise: Self.tight) { client, _ in
            let socket = try RawSocket(port: try #require(client.port))
            let start = ContinuousClock.now
            #expect(await socket.send("POST /v1/route HTTP/1.1\r\nHost: x\r\n"))
            var closed = false
            // 1 byte every 50 ms (the idle timeout would never fire: bytes keep arriving), for at most 10 s.
            for byte in Array(String(repeating: "X-Slow: y\r\n", count: 20).utf8) {
                if await !socket.send([byte]) { closed = true; break }
                if await socket.receive(waiting: 0.05).closed {
                    closed = true
                    break
                }
            }
            #expect(closed)
            #expect(Self.seconds(since: start) < 5, "closed after \(Self.seconds(since: start)) s")
        }
    }

    @Test("an oversize body gets 413 with Connection: close, and the connection is closed, not read to the end")
    func oversizeBody() async throws {
        // Read timeouts well past the 413, so only the early-response close can end the connection.
        try await harness.run(customise: { config in
            Self.tight(&config)
            config.connections.idleTimeoutSeconds = 10
            config.connections.bodyTimeoutSeconds = 10
        }) { client, _ in
            let port = try #require(client.port)
            let declared = 100 << 20
            let head =
                "POST /v1/route HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(declared)\r\n\r\n"
            // A client that reads while it writes sees the 413 and the close.
            let polite = try RawSocket(port: port)
            #expect(await polite.send(head))
            #expect(await polite.send([UInt8](repeating: 0x61, count: 16 * 1024)))
            let reply = await polite.readUntilClosed(within: 10)
            #expect(reply.text.hasPrefix("HTTP/1.1 413"), "reply: \(reply.text.prefix(120))")
            #expect(reply.text.lowercased().contains("connection: close"))
            #expect(reply.closed && reply.seconds < 5, "closed: \(reply.closed) after \(reply.seconds) s")

            // A client that only writes is cut off: far less than the 100 MB declared is accepted.
            let pushy = try RawSocket(port: port)
            let start = ContinuousClock.now
            #expect(await pushy.send(head))
            let chunk = [UInt8](repeating: 0x61, count: 64 * 1024)
            var sent = 0
            while sent < declared && Self.seconds(since: start) < 10 {
                guard await pushy.send(chunk) else { break }
                sent += chunk.count
            }
            #expect(sent < declared / 4, "sent \(sent) bytes before the close")
            #expect(Self.seconds(since: start) < 10)
        }
    }

    @Test("a Content-Length larger than the body sent gets 408 and a close at the body timeout")
    func shortBody() async throws {
        // The idle timeout also ends a stalled body; keep it out of the way so the body timeout answers 408.
        try await harness.run(customise: { config in
            Self.tight(&config)
            config.connections.idleTimeoutSeconds = 10
        }) { client, _ in
            let socket = try RawSocket(port: try #require(client.port))
            #expect(
                await socket.send(
                    "POST /v1/route HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                        + #"{"prompt": "#))
            let result = await socket.readUntilClosed(within: 10)
            #expect(result.text.hasPrefix("HTTP/1.1 408"), "reply: \(result.text.prefix(120))")
            #expect(result.closed)
            #expect(result.seconds < 5, "closed after \(result.seconds) s")
        }
    }

    @Test("a malformed Content-Length closes the connection at once")
    func malformedLength() async throws {
        try await harness.run(customise: Self.tight) { client, _ in
            let socket = try RawSocket(port: try #require(client.port))
            #expect(await socket.send("POST /v1/route HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n{}"))
            let result = await socket.readUntilClosed(within: 10)
            // Hummingbird answers a parse error with 400 when it can; either way the connection is closed at once.
            #expect(result.text.isEmpty || result.text.hasPrefix("HTTP/1.1 400"), "reply: \(result.text.prefix(120))")
            #expect(result.closed)
            #expect(result.seconds < 5)
        }
    }

    @Test("the connections section is read, and the cap stays below the open-file limit")
    func config() throws {
        let base = ConfigFixture.minimal
        let config = try GatewayConfig.parse(
            yaml: base + "\nconnections: {idle_timeout_seconds: 5, header_timeout_seconds: 2, max_connections: 100}")
        #expect(config.connections.idleTimeoutSeconds == 5)
        #expect(config.connections.headerTimeoutSeconds == 2)
        #expect(config.connections.bodyTimeoutSeconds == GatewayConfig.Connections().bodyTimeoutSeconds)
        #expect(config.connections.effectiveMaxConnections <= 100)
        var huge = GatewayConfig.Connections()
        huge.maxConnections = 100_000_000
        var limit = rlimit()
        _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        #expect(huge.effectiveMaxConnections < Int(clamping: limit.rlim_cur))
    }
}
