import Dispatch
import Foundation
import NIOConcurrencyHelpers

/// Runs a ``QualityPredictor`` on dedicated OS threads, batching prompts that wait together.
///
/// Embedding a prompt is milliseconds of CPU work. Run on Swift's cooperative pool (one thread per core, two here)
/// it would stall every other request; run on a NIO event loop it would stall its connections. These threads take
/// that work instead, and prompts that arrive while a batch is running form the next batch, so one encoder call
/// serves many requests under load. One thread is the right number: a lone batch already splits its dense
/// products over every core (`SpinningHelpers`), and a second thread would only compete with it.
public final class PredictionPool: Sendable {
    /// The pool was shut down before the prompt was predicted.
    public struct ShutDownError: Error {}

    private struct Job {
        var prompt: String
        var continuation: CheckedContinuation<[Double], any Error>
        var predictor: any QualityPredictor
        /// Jobs of one generation share a predictor and may be batched together.
        var generation: Int
    }

    private struct State {
        var queue: [Job] = []
        var head = 0
        var isRunning = true
        var workersLeft = 0
    }

    public let predictor: any QualityPredictor
    private let maxBatch: Int
    private let threadCount: Int
    private let state = NIOLockedValueBox(State())
    private let wakeUp = DispatchSemaphore(value: 0)
    private let allStopped = DispatchSemaphore(value: 0)

    /// Starts `threads` worker threads; call ``shutdown()`` to stop them.
    public init(predictor: any QualityPredictor, threads: Int = 1, maxBatch: Int = 32) {
        precondition(threads >= 1 && maxBatch >= 1, "need at least one thread and a batch of one")
        self.predictor = predictor
        self.maxBatch = maxBatch
        self.threadCount = threads
        state.withLockedValue { $0.workersLeft = threads }
        for index in 0..<threads {
            let thread = Thread { [self] in self.work() }
            thread.name = "catimage-predict-\(index)"
            thread.start()
        }
    }

    /// Predicted qualities for one prompt, computed on the pool's threads.
    public func predict(_ prompt: String) async throws -> [Double] {
        try await predict(prompt, using: predictor, generation: 0)
    }

    /// Predicted qualities for one prompt by `predictor` (a reloaded router, numbered `generation`).
    public func predict(_ prompt: String, using predictor: any QualityPredictor, generation: Int) async throws
        -> [Double]
    {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = state.withLockedValue { state in
                guard state.isRunning else { return false }
                state.queue.append(
                    Job(prompt: prompt, continuation: continuation, predictor: predictor, generation: generation))
                return true
            }
            if accepted {
                wakeUp.signal()
            } else {
                continuation.resume(throwing: ShutDownError())
            }
        }
    }

    /// Finishes queued prompts, then stops the threads; blocks until they have stopped.
    public func shutdown() {
        let alreadyStopped = state.withLockedValue { state in
            defer { state.isRunning = false }
            return !state.isRunning
        }
        if alreadyStopped { return }
        for _ in 0..<threadCount { wakeUp.signal() }
        allStopped.wait()
    }

    private func work() {
        while true {
            wakeUp.wait()
            let (jobs, stop, last) = state.withLockedValue { state -> ([Job], Bool, Bool) in
                let waiting = state.queue.count - state.head
                if waiting == 0 {
                    if state.isRunning { return ([], false, false) }
                    state.workersLeft -= 1
                    return ([], true, state.workersLeft == 0)
                }
                let take = min(waiting, maxBatch)
                let jobs = Array(state.queue[state.head..<state.head + take])
                state.head += take
                if state.head == state.queue.count {
                    state.queue.removeAll(keepingCapacity: true)
                    state.head = 0
                }
                return (jobs, false, false)
            }
            if stop {
                if last { allStopped.signal() }
                // Let a sibling waiting on an empty queue see the stop too.
                wakeUp.signal()
                return
            }
            if jobs.isEmpty { continue }
            // Jobs taken in one batch leave their extra wake-ups behind; those loops find the queue empty.
            // Around a reload a batch may hold prompts of two routers: each run of one generation is predicted by its
            // own router.
            var first = 0
            while first < jobs.count {
                var end = first + 1
                while end < jobs.count && jobs[end].generation == jobs[first].generation { end += 1 }
                let run = jobs[first..<end]
                let rows = jobs[first].predictor.predictQualities(for: run.map(\.prompt))
                for (job, row) in zip(run, rows) { job.continuation.resume(returning: row) }
                if rows.count < run.count {
                    for job in run.dropFirst(rows.count) {
                        job.continuation.resume(throwing: ShutDownError())
                    }
                }
                first = end
            }
        }
    }
}
