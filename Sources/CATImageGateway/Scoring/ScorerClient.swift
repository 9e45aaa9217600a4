import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Synchronization

/// The HTTP scorer protocol (README, "Your own generators"), used by `catimage score` and by the gateway's sampled
/// scoring (it lives here, below CATImageCollect, so both share one client):
///
/// `POST <url>` with `Content-Type: application/json` and
/// `{"metric": "clip", "items": [{"id": "17", "prompt": "a red car", "image_png_base64": "iVBOR…"}]}`;
/// the answer, status 200: `{"scores": [{"id": "17", "score": 0.312}]}`, one finite number per item, higher is
/// better. Ids are texts (a number is accepted too). An item the answer lacks, or whose score is not a finite
/// number, is a failed score; 429, 5xx, timeouts and broken connections are retried.
public struct ScorerClient: Sendable {
    /// Settings of a scoring run.
    public struct Options: Sendable {
        /// Items per request.
        public var batchSize = 8
        /// Requests in flight at once.
        public var concurrency = 2
        /// Seconds one request may take.
        public var timeoutSeconds = 60.0
        /// Extra attempts after a timeout, broken connection, 429 or 5xx.
        public var retries = 2
        /// Score failed rows of this metric again.
        public var retryFailed = false
        public init() {}
    }

    public let url: String
    let client: HTTPClient
    package let logger: Logger

    public init(url: String, client: HTTPClient, logger: Logger) {
        self.url = url
        self.client = client
        self.logger = logger
    }

    /// One item sent to the scorer.
    public struct Item: Sendable, Equatable {
        public var id: String
        public var prompt: String
        public var pngBase64: String

        public init(id: String, prompt: String, pngBase64: String) {
            self.id = id
            self.prompt = prompt
            self.pngBase64 = pngBase64
        }
    }

    /// Why a request (a whole batch) failed.
    package struct RequestFailure: Error {
        package var message: String
        package var retryable: Bool
    }

    /// One request: per item id, the score or why there is none.
    package func score(metric: String, items: [Item], timeoutSeconds: Double) async throws -> [String: Result<
        Double, ScoreFailure
    >] {
        let body: [String: Any] = [
            "metric": metric,
            "items": items.map { ["id": $0.id, "prompt": $0.prompt, "image_png_base64": $0.pngBase64] },
        ]
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        let status: Int
        let responseBody: ByteBuffer
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(timeoutSeconds * 1e9)))
            status = Int(response.status.code)
            responseBody = try await response.body.collect(upTo: 16 << 20)
        } catch let error as HTTPClientError
            where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout
        {
            throw RequestFailure(message: "no answer within \(timeoutSeconds) s", retryable: true)
        } catch is NIOTooManyBytesError {
            throw RequestFailure(message: "answer larger than 16 MiB", retryable: false)
        } catch {
            throw RequestFailure(message: "connection: \(error)", retryable: true)
        }
        guard (200..<300).contains(status) else {
            let text = String(buffer: responseBody).prefix(200)
            throw RequestFailure(message: "HTTP \(status): \(text)", retryable: status == 429 || status >= 500)
        }
        return try Self.decode(Data(responseBody.readableBytesView), ids: items.map(\.id))
    }

    /// Reads `{"scores": [{"id": …, "score": …}]}`; per requested id, its finite score or why it has none.
    static func decode(_ data: Data, ids: [String]) throws -> [String: Result<Double, ScoreFailure>] {
        // JSON5 reads the NaN and Infinity that Python's json module writes, so they fail as values, not the batch.
        let decoder = JSONDecoder()
        decoder.allowsJSON5 = true
        guard let answer = try? decoder.decode(Answer.self, from: data) else {
            let text = String(decoding: data.prefix(200), as: UTF8.self)
            throw RequestFailure(message: "the answer is not {\"scores\": [...]} JSON: \(text)", retryable: false)
        }
        var found: [String: Result<Double, ScoreFailure>] = [:]
        for entry in answer.scores {
            guard let id = entry.id?.text else { continue }
            switch entry.score {
            case .number(let score)?:
                found[id] =
                    score.isFinite
                    ? .success(score) : .failure(ScoreFailure(message: "the score is not a finite number: \(score)"))
            case .other(let text)?:
                found[id] = .failure(ScoreFailure(message: "the score is not a number: \(text.prefix(80))"))
            case nil:
                found[id] = .failure(ScoreFailure(message: "the scorer's entry has no \"score\""))
            }
        }
        var result: [String: Result<Double, ScoreFailure>] = [:]
        for id in ids {
            result[id] = found[id] ?? .failure(ScoreFailure(message: "the scorer's answer has no score for id \(id)"))
        }
        return result
    }

    /// The scorer's answer.
    struct Answer: Decodable {
        struct Entry: Decodable {
            var id: ID?
            var score: Value?
        }
        var scores: [Entry]

        /// An id, as text or as a number.
        struct ID: Decodable {
            var text: String
            init(from decoder: any Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let text = try? container.decode(String.self) {
                    self.text = text
                } else {
                    let number = try container.decode(Int64.self)
                    text = "\(number)"
                }
            }
        }

        /// A score: a number (NaN and infinities included), or anything else, kept as text for the error.
        enum Value: Decodable {
            case number(Double)
            case other(String)
            init(from decoder: any Decoder) throws {
                let container = try decoder.singleValueContainer()
                if container.decodeNil() {
                    self = .other("null")
                } else if let flag = try? container.decode(Bool.self) {
                    self = .other("\(flag)")
                } else if let number = try? container.decode(Double.self) {
                    self = .number(number)
                } else if let text = try? container.decode(String.self) {
                    self = .other("\"\(text)\"")
                } else {
                    self = .other("a JSON object or list")
                }
            }
        }
    }
}

/// Why one image has no score.
public struct ScoreFailure: Error, Sendable, Equatable {
    public var message: String
    public init(message: String) { self.message = message }
}
