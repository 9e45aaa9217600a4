import Dispatch
import Foundation
import Synchronization
import Testing

@testable import CATImageCore

@Suite("Spinning helper threads")
struct SpinningHelpersTests {
    /// Counts per part, shared with the helper threads.
    final class Tally: Sendable {
        final class Count: Sendable {
            let value = Atomic<Int>(0)
        }
        let counts: [Count]
        init(_ count: Int) { counts = (0..<count).map { _ in Count() } }
        func add(_ part: Int) { counts[part].value.add(1, ordering: .relaxed) }
        var values: [Int] { counts.map { $0.value.load(ordering: .relaxed) } }
    }

    @Test("every part runs exactly once per call, over thousands of calls, with parked and spinning helpers")
    func everyPartOnce() {
        let helpers = SpinningHelpers(count: 2)
        for round in 0..<3000 {
            let parts = 1 + round % 9
            let tally = Tally(parts)
            helpers.run(parts: parts) { tally.add($0) }
            #expect(tally.values == Array(repeating: 1, count: parts), "round \(round), \(parts) parts")
            // Now and then let the helpers park, so the wake-up path is exercised too.
            if round % 500 == 0 { usleep(1000) }
        }
    }

    @Test("concurrent callers each get all their parts done: one uses the helpers, the others run theirs inline")
    func concurrentCallers() {
        let helpers = SpinningHelpers(count: 1)
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            for round in 0..<500 {
                let parts = 2 + (round + caller) % 5
                let tally = Tally(parts)
                helpers.run(parts: parts) { tally.add($0) }
                if tally.values != Array(repeating: 1, count: parts) { failures.add(1, ordering: .relaxed) }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
    }
}
