import CATImageCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP client socket to 127.0.0.1, for driving the server the way slow or hostile clients do.
///
/// Its calls block (send, poll, recv), so each runs on a thread of its own (`onOwnThread`): blocked on the
/// cooperative pool, they would hold one of its two threads, which the server under test (Hummingbird's handlers)
/// and every other suite need meanwhile. One test drives a socket at a time, hence `@unchecked Sendable`.
final class RawSocket: @unchecked Sendable {
    enum Failure: Error { case socket, connect(Int32) }

    private let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure.socket }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw Failure.connect(code)
        }
    }

    deinit { close(fd) }

    /// Sends all of `bytes`; false when the peer has closed (EPIPE, ECONNRESET).
    @discardableResult
    func send(_ bytes: [UInt8]) async -> Bool {
        (try? await onOwnThread(name: "raw-socket") { self.sendBlocking(bytes) }) ?? false
    }

    @discardableResult
    func send(_ text: String) async -> Bool { await send(Array(text.utf8)) }

    /// Waits up to `seconds` for data; returns what arrived (empty at EOF or on timeout) and whether the peer closed.
    func receive(waiting seconds: Double) async -> (bytes: [UInt8], closed: Bool) {
        (try? await onOwnThread(name: "raw-socket") { self.receiveBlocking(waiting: seconds) }) ?? ([], true)
    }

    /// Reads until the peer closes or `seconds` pass; returns everything read, whether it closed, and when.
    func readUntilClosed(within seconds: Double) async -> (text: String, closed: Bool, seconds: Double) {
        (try? await onOwnThread(name: "raw-socket") { self.readUntilClosedBlocking(within: seconds) }) ?? ("", false, 0)
    }

    private func sendBlocking(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    private func receiveBlocking(waiting seconds: Double) -> (bytes: [UInt8], closed: Bool) {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, Int32(seconds * 1000))
        guard ready > 0 else { return ([], false) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 { return ([], true) }
        return (Array(buffer[0..<count]), false)
    }

    private func readUntilClosedBlocking(within seconds: Double) -> (text: String, closed: Bool, seconds: Double) {
        let start = ContinuousClock.now
        var bytes: [UInt8] = []
        while true {
            let elapsed = (ContinuousClock.now - start).components
            let spent = Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
            if spent >= seconds { return (String(decoding: bytes, as: UTF8.self), false, spent) }
            let (chunk, closed) = receiveBlocking(waiting: min(0.1, seconds - spent))
            bytes += chunk
            if closed { return (String(decoding: bytes, as: UTF8.self), true, spent) }
        }
    }
}
