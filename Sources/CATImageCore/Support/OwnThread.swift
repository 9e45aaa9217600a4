import Foundation

/// Runs `work` on a thread of its own and awaits its result.
///
/// For seconds of CPU or file work (embedding, training, loading a router) inside async code: run directly, it
/// would hold a thread of the cooperative pool, which has one thread per core, and every task waiting for that
/// pool (a server's handlers, an HTTP client's reads) would wait with it.
public func onOwnThread<T: Sendable>(
    name: String = "catimage-work", _ work: @escaping @Sendable () throws -> T
) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try work() }) }
        thread.name = name
        thread.start()
    }
}
