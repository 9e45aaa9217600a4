import Foundation
import Hummingbird
import NIOConcurrencyHelpers

/// What a stand-in server remembers between requests: the behaviour a test sets (and may change while the server
/// runs) and the request bodies received, under one lock so that each request gets its number and the behaviour
/// in force together.
public final class StandInState<Behaviour: Sendable>: Sendable {
    private let state: NIOLockedValueBox<(behaviour: Behaviour, requests: [Data])>

    public init(_ behaviour: Behaviour) { state = NIOLockedValueBox((behaviour, [])) }

    /// How the server answers from the next request on.
    public var behaviour: Behaviour {
        get { state.withLockedValue { $0.behaviour } }
        set { state.withLockedValue { $0.behaviour = newValue } }
    }

    /// JSON bodies received, in order (an empty object for a body that is not a JSON object).
    public var requests: [[String: Any]] {
        state.withLockedValue { $0.requests }.map {
            (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] ?? [:]
        }
    }

    /// How many requests have come in.
    public var requestCount: Int { state.withLockedValue { $0.requests.count } }

    /// Reads `request`'s body (up to 1 MiB) and records it; returns the body as a JSON object (empty when it is not
    /// one), the behaviour to answer it with, and the request's number (1 for the first).
    public func record(_ request: Request) async throws -> (body: [String: Any], behaviour: Behaviour, number: Int) {
        let buffer = try await request.body.collect(upTo: 1 << 20)
        let bytes = Data(buffer.readableBytesView)
        let body = (try? JSONSerialization.jsonObject(with: bytes)) as? [String: Any] ?? [:]
        let (behaviour, number) = state.withLockedValue { state in
            state.requests.append(bytes)
            return (state.behaviour, state.requests.count)
        }
        return (body, behaviour, number)
    }
}
