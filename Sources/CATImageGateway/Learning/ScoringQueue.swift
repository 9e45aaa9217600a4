import Foundation
import Logging
import NIOConcurrencyHelpers

/// Scores a sampled share of served images off the request path (the `scoring:` config section) and stores the
/// scores as feedback rows (`source: "scorer"`).
///
/// A request only draws a number and offers its images to a bounded queue, which never waits: when the queue is
/// full the sample is dropped and counted. `concurrency` scorer requests run at once; one more sample may be held
/// by the dispatcher while it waits for a free slot, so at most `queueCapacity + concurrency + 1` samples are taken.
public final class ScoringQueue: Sendable {
    struct Sample: Sendable {
        var requestID: String
        var prompt: String
        var images: [String]
    }

    public let settings: GatewayConfig.ScoringSettings
    let scorer: ScorerClient
    let log: DecisionLog
    let metrics: LearningMetrics
    let logger: Logger
    private let random = SharedRandom(seed: nil)
    private let stream: AsyncStream<Sample>
    private let continuation: AsyncStream<Sample>.Continuation
    /// When a drop was last logged, and the drops since then.
    private let drops = NIOLockedValueBox((logged: ContinuousClock.Instant?.none, unlogged: 0))
    /// Seconds between two warnings about dropped samples.
    static var warningInterval: Duration { .seconds(10) }

    init(
        settings: GatewayConfig.ScoringSettings, scorer: ScorerClient, log: DecisionLog, metrics: LearningMetrics,
        logger: Logger
    ) {
        self.settings = settings
        self.scorer = scorer
        self.log = log
        self.metrics = metrics
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(
            of: Sample.self, bufferingPolicy: .bufferingOldest(settings.queueCapacity))
    }

    /// Offers a served request's images: takes `sample_rate` of them into the queue, or drops them when it is full.
    /// Never waits.
    func offer(requestID: String, prompt: String, images: [String]) {
        guard !images.isEmpty, settings.sampleRate > 0, random.unit() < settings.sampleRate else { return }
        switch continuation.yield(Sample(requestID: requestID, prompt: prompt, images: images)) {
        case .enqueued:
            metrics.recordScoring("queued")
        case .dropped:
            metrics.recordScoring("dropped")
            noteDrop()
        case .terminated:
            break
        @unknown default:
            break
        }
    }

    /// Logs dropped samples at most once per ``warningInterval``, with the count since the last warning.
    private func noteDrop() {
        let now = ContinuousClock.now
        let report: Int? = drops.withLockedValue { state in
            state.unlogged += 1
            if let last = state.logged, now - last < Self.warningInterval { return nil }
            defer {
                state.logged = now
                state.unlogged = 0
            }
            return state.unlogged
        }
        if let report {
            logger.warning(
                "scoring queue full: samples dropped",
                metadata: ["dropped": "\(report)", "queue_capacity": "\(settings.queueCapacity)"])
        }
    }

    /// Scores queued samples, `concurrency` at once, until the task is cancelled (the gateway's service does it at
    /// shutdown; samples still queued then are not scored).
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for await sample in stream {
                if running >= settings.concurrency {
                    await group.next()
                    running -= 1
                }
                group.addTask { await self.score(sample) }
                running += 1
            }
            group.cancelAll()
        }
    }

    /// Stops taking samples.
    func finish() { continuation.finish() }

    private func score(_ sample: Sample) async {
        let items = sample.images.enumerated().map {
            ScorerClient.Item(id: "\($0.offset)", prompt: sample.prompt, pngBase64: $0.element)
        }
        let answer: [String: Result<Double, ScoreFailure>]
        do {
            answer = try await scorer.score(
                metric: settings.metric, items: items, timeoutSeconds: settings.timeoutSeconds)
        } catch let failure as ScorerClient.RequestFailure {
            metrics.recordScoring("failed")
            logger.debug("scorer request failed", metadata: ["error": "\(failure.message)"])
            return
        } catch {
            metrics.recordScoring("failed")
            logger.debug("scorer request failed", metadata: ["error": "\(error)"])
            return
        }
        var stored = 0
        for item in items {
            switch answer[item.id] {
            case .success(let score):
                do {
                    try await log.appendFeedback(
                        FeedbackRecord(
                            time: Date(), requestID: sample.requestID, score: score, metric: settings.metric,
                            source: "scorer"))
                    metrics.recordFeedback(origin: "scorer")
                    stored += 1
                } catch {
                    logger.error("feedback write failed", metadata: ["error": "\(error)"])
                }
            case .failure(let failure):
                logger.debug("image not scored", metadata: ["error": "\(failure.message)"])
            case nil:
                break
            }
        }
        metrics.recordScoring(stored == items.count ? "scored" : "failed")
    }
}
