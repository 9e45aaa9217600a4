import Dispatch
import Foundation
import Synchronization

/// Parallelism across inputs, the project's alternative to multi-threaded BLAS calls.
public enum Parallel {
    /// Number of worker threads to use: the active processor count, at least 1.
    public static var defaultWorkerCount: Int {
        max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Calls `body` for every index in `0..<count`, spread over `workers` threads, and returns the results
    /// in index order. `body` must be safe to call concurrently.
    public static func map<T: Sendable>(
        _ count: Int, workers: Int = Parallel.defaultWorkerCount, _ body: @Sendable (Int) -> T
    ) -> [T] {
        guard count > 0 else { return [] }
        let results = ResultSlots<T>(count: count)
        let threads = max(1, min(workers, count))
        if threads == 1 {
            for index in 0..<count { results.store(body(index), at: index) }
        } else {
            let next = AtomicCounter()
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                while true {
                    let index = next.increment()
                    if index >= count { break }
                    results.store(body(index), at: index)
                }
            }
        }
        return results.values()
    }
}

/// Result slots written by index from several threads; each index is written exactly once.
private final class ResultSlots<T: Sendable>: @unchecked Sendable {
    // Safe: every slot is written by one thread only (distinct indices) and read after all writers joined
    // (`concurrentPerform` returns only when every iteration has finished).
    private var slots: [T?]

    init(count: Int) { slots = [T?](repeating: nil, count: count) }

    func store(_ value: T, at index: Int) {
        slots.withUnsafeMutableBufferPointer { $0[index] = value }
    }

    func values() -> [T] { slots.map { $0! } }
}

/// A counter handing out indices to worker threads.
private final class AtomicCounter: Sendable {
    private let value = Atomic<Int>(0)

    func increment() -> Int {
        value.wrappingAdd(1, ordering: .relaxed).oldValue
    }
}
