import Dispatch
import Foundation
import Synchronization

/// Long-lived helper threads that share the parts of a split computation with little hand-off cost.
///
/// Splitting one prompt's dense products over the cores pays off only if handing a part to another thread costs
/// far less than the part (50–200 µs here). Waking a parked thread (Dispatch, a semaphore) costs tens of
/// microseconds per hand-off, which ate most of the gain; these helpers instead spin for a short while
/// (``spinTime``) after each part, so the next part of the same forward pass starts at once, and park when no
/// work comes, so an idle server burns no CPU.
///
/// Parts are claimed, not assigned: the caller takes parts too, so a helper that the scheduler has not run yet
/// (the cores busy with other threads) delays nothing: the caller does its part as well. One caller at a time
/// uses the helpers; a concurrent caller finds them busy and runs its parts itself.
public final class SpinningHelpers: @unchecked Sendable {
    // Safe to share: `task` is written by the caller holding `busy`, before it publishes a new epoch in `state`,
    // and read by a helper only after it claimed a part of that epoch; the caller returns (and a next caller
    // may overwrite `task`) only once every part, claimed parts included, is done.

    /// The process-wide helpers: one fewer than the cores, started on first use.
    public static let shared = SpinningHelpers(count: max(0, Parallel.defaultWorkerCount - 1))

    /// How long a helper spins for more work before it parks.
    public static let spinTime: Duration = .microseconds(100)

    /// Number of helper threads.
    public let count: Int
    private let busy = Atomic<Bool>(false)
    /// `epoch << 32 | parts << 16 | next unclaimed part`: one word, so a claim sees a consistent run.
    private let state = Atomic<Int>(0)
    private let done = Atomic<Int>(0)
    private let parked: [Flag]
    private let wakeUps: [DispatchSemaphore]
    private var task: ((Int) -> Void)?

    private final class Flag: Sendable {
        let value = Atomic<Bool>(false)
    }

    /// Starts `count` helper threads (they live as long as the process).
    public init(count: Int) {
        self.count = count
        parked = (0..<count).map { _ in Flag() }
        wakeUps = (0..<count).map { _ in DispatchSemaphore(value: 0) }
        for index in 0..<count {
            let thread = Thread { [self] in self.serve(index) }
            thread.name = "catimage-helper-\(index)"
            thread.start()
        }
    }

    /// Runs `body(part)` for every part in `0..<parts` (at most 65,535) on the calling thread and the helpers,
    /// and returns when all are done.
    public func run(parts: Int, _ body: @escaping (Int) -> Void) {
        precondition(parts < 1 << 16, "too many parts")
        guard parts > 1, count > 0, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        else {
            for part in 0..<parts { body(part) }
            return
        }
        task = body
        done.store(0, ordering: .sequentiallyConsistent)
        let epoch = ((state.load(ordering: .sequentiallyConsistent) >> 32) &+ 1) & 0x7FFF_FFFF
        state.store(epoch << 32 | parts << 16, ordering: .sequentiallyConsistent)
        for index in 0..<count where parked[index].value.exchange(false, ordering: .sequentiallyConsistent) {
            wakeUps[index].signal()
        }
        work(epoch: epoch)
        while done.load(ordering: .acquiring) < parts {}
        task = nil
        busy.store(false, ordering: .releasing)
    }

    /// Claims and runs parts of `epoch` until none is left.
    private func work(epoch: Int) {
        while true {
            let current = state.load(ordering: .sequentiallyConsistent)
            guard current >> 32 == epoch, current & 0xFFFF < (current >> 16) & 0xFFFF else { return }
            guard
                state.compareExchange(expected: current, desired: current + 1, ordering: .sequentiallyConsistent)
                    .exchanged
            else { continue }
            task?(current & 0xFFFF)
            done.add(1, ordering: .releasing)
        }
    }

    private func serve(_ index: Int) {
        var seen = 0
        while true {
            var clock = ContinuousClock.now
            var spins = 0
            while state.load(ordering: .acquiring) >> 32 == seen {
                spins &+= 1
                guard spins & 1023 == 0 else { continue }
                if ContinuousClock.now - clock < Self.spinTime { continue }
                // Park. A caller that publishes after this store sees the flag and signals; one that published
                // before it is seen by the check below. A signal left over from a race only causes one more look.
                parked[index].value.store(true, ordering: .sequentiallyConsistent)
                if state.load(ordering: .sequentiallyConsistent) >> 32 == seen { wakeUps[index].wait() }
                parked[index].value.store(false, ordering: .sequentiallyConsistent)
                clock = ContinuousClock.now
            }
            seen = state.load(ordering: .acquiring) >> 32
            work(epoch: seen)
        }
    }
}
