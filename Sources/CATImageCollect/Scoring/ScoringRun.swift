import CATImageGateway
import Foundation
import GRDB
import Logging
import Synchronization

/// A done render waiting for a score.
public struct ScoreJob: Sendable, Equatable {
    public var renderID: Int64
    public var prompt: String
    public var imageHash: String
}

/// Progress of a scoring run.
public struct ScoreProgress: Sendable {
    public var toDo: Int
    public var done = 0
    public var failed = 0
    /// Seconds since the run started.
    public var elapsed = 0.0
}

/// What a scoring run did.
public struct ScoreRunResult: Sendable {
    public var done: Int
    /// Failed scores: render id and why.
    public var failed: [(renderID: Int64, error: String)]
    public var seconds: Double
}

/// Scores a collection's done renders with one metric, resumably: each answer is committed as it arrives, and a
/// rerun scores only what has no score yet (and failed scores with `retryFailed`).
public struct ScoringRun: Sendable {
    public let store: CollectionStore
    public let scorer: ScorerClient
    public let metric: String
    public let options: ScorerClient.Options

    /// Column names of the export that a metric may not take.
    static let reservedNames: Set<String> = ["prompt_id", "prompt", "generator", "sample", "cost", "rating"]

    public init(
        store: CollectionStore, scorer: ScorerClient, metric: String, options: ScorerClient.Options
    ) throws(CollectionError) {
        let allowed = metric.unicodeScalars.allSatisfy {
            CharacterSet.alphanumerics.contains($0) || "_-.".unicodeScalars.contains($0)
        }
        guard !metric.isEmpty, metric.count <= 64, allowed, metric.first?.isLetter == true,
            !Self.reservedNames.contains(metric)
        else {
            throw CollectionError(
                .invalidOption, value: metric,
                "a metric name is a letter then letters, digits, _ . or - (at most 64), and not one of the export's "
                    + "columns (\(Self.reservedNames.sorted().joined(separator: ", ")))")
        }
        guard (1...1024).contains(options.batchSize), (1...256).contains(options.concurrency),
            options.timeoutSeconds > 0, (0...10).contains(options.retries)
        else {
            throw CollectionError(
                .invalidOption, "batch 1-1024, concurrency 1-256, timeout > 0 and retries 0-10 are required")
        }
        self.store = store
        self.scorer = scorer
        self.metric = metric
        self.options = options
    }

    /// Done renders with no done score for the metric (with no score row at all unless `retryFailed`).
    public func plan() throws(CollectionError) -> [ScoreJob] {
        let metric = self.metric
        let retry = options.retryFailed
        return try store.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT r.id, p.text, r.image_hash FROM renders r
                    JOIN prompts p ON p.prompt_id = r.prompt_id
                    LEFT JOIN scores s ON s.render_id = r.id AND s.metric = ?
                    WHERE r.status = 'done' AND r.image_hash IS NOT NULL
                      AND (s.render_id IS NULL OR (? AND s.status = 'failed'))
                    ORDER BY r.id
                    """, arguments: [metric, retry]
            ).map { ScoreJob(renderID: $0["id"], prompt: $0["text"], imageHash: $0["image_hash"]) }
        }
    }

    /// Scores `jobs` in batches, `concurrency` requests at once, committing each batch's scores as they come.
    public func run(
        _ jobs: [ScoreJob], progress: (@Sendable (ScoreProgress) -> Void)? = nil
    ) async throws(CollectionError) -> ScoreRunResult {
        let start = ContinuousClock.now
        let batches = stride(from: 0, to: jobs.count, by: options.batchSize).map {
            Array(jobs[$0..<min(jobs.count, $0 + options.batchSize)])
        }
        let state = Locked((progress: ScoreProgress(toDo: jobs.count), failed: [(Int64, String)](), next: 0))
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<min(options.concurrency, max(1, batches.count)) {
                    group.addTask {
                        while true {
                            let index = state.withLock { state -> Int in
                                defer { state.next += 1 }
                                return state.next
                            }
                            guard index < batches.count, !Task.isCancelled else { return }
                            let results = try await self.score(batches[index])
                            guard let results else { return }
                            let snapshot = state.withLock { state -> ScoreProgress in
                                for (job, result) in zip(batches[index], results) {
                                    switch result {
                                    case .success: state.progress.done += 1
                                    case .failure(let failure):
                                        state.progress.failed += 1
                                        state.failed.append((job.renderID, failure.message))
                                    }
                                }
                                state.progress.elapsed = (ContinuousClock.now - start).seconds
                                return state.progress
                            }
                            progress?(snapshot)
                        }
                    }
                }
                try await group.waitForAll()
            }
        } catch let error as CollectionError {
            throw error
        } catch {
            throw CollectionError(.storage, file: store.directory, "scoring stopped: \(error)")
        }
        return state.withLock { state in
            ScoreRunResult(
                done: state.progress.done, failed: state.failed.map { (renderID: $0.0, error: $0.1) },
                seconds: (ContinuousClock.now - start).seconds)
        }
    }

    /// Scores one batch with retries and commits it; `nil` when cancelled (nothing recorded).
    func score(_ batch: [ScoreJob]) async throws(CollectionError) -> [Result<Double, ScoreFailure>]? {
        var results = [Result<Double, ScoreFailure>?](repeating: nil, count: batch.count)
        var items: [ScorerClient.Item] = []
        var itemIndex: [Int] = []
        for (index, job) in batch.enumerated() {
            guard let data = FileManager.default.contents(atPath: store.imagePath(hash: job.imageHash)) else {
                results[index] = .failure(
                    ScoreFailure(message: "the image file \(job.imageHash).png is missing from the collection"))
                continue
            }
            items.append(.init(id: "\(job.renderID)", prompt: job.prompt, pngBase64: data.base64EncodedString()))
            itemIndex.append(index)
        }
        if !items.isEmpty {
            let tries = 1 + options.retries
            var reasons: [String] = []
            var answer: [String: Result<Double, ScoreFailure>]?
            for attempt in 1...tries {
                if Task.isCancelled { return nil }
                do {
                    answer = try await scorer.score(
                        metric: metric, items: items, timeoutSeconds: options.timeoutSeconds)
                    break
                } catch let failure as ScorerClient.RequestFailure {
                    reasons.append("attempt \(attempt): \(failure.message)")
                    scorer.logger.debug("scorer request failed", metadata: ["error": "\(failure.message)"])
                    if !failure.retryable { break }
                    if attempt < tries { try? await Task.sleep(for: .milliseconds(200 * attempt)) }
                } catch {
                    reasons.append("attempt \(attempt): \(error)")
                    break
                }
            }
            if Task.isCancelled { return nil }
            for (item, index) in zip(items, itemIndex) {
                results[index] =
                    answer?[item.id]
                    ?? .failure(ScoreFailure(message: "scorer \(scorer.url): " + reasons.joined(separator: "; ")))
            }
        }
        let final = results.map { $0 ?? .failure(ScoreFailure(message: "not scored")) }
        let metric = self.metric
        let rows = zip(batch, final).map { ($0.renderID, $1) }
        let now = Date.now.formatted(.iso8601)
        try await store.write { db in
            for (renderID, result) in rows {
                let value: Double?
                let status: String
                let error: String?
                switch result {
                case .success(let score): (value, status, error) = (score, "done", nil)
                case .failure(let failure): (value, status, error) = (nil, "failed", failure.message)
                }
                try db.execute(
                    sql: """
                        INSERT INTO scores (render_id, metric, value, status, error, finished_at)
                        VALUES (?, ?, ?, ?, ?, ?)
                        ON CONFLICT (render_id, metric) DO UPDATE SET value = excluded.value,
                          status = excluded.status, error = excluded.error, finished_at = excluded.finished_at
                        WHERE scores.status = 'failed'
                        """, arguments: [renderID, metric, value, status, error, now])
            }
        }
        return final
    }
}
