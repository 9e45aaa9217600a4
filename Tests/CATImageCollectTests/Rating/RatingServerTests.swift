import CATImageCollect
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Rating server over real HTTP on a fixture collection")
struct RatingServerTests {
    @Test("the page and its API name no generator: images are served by opaque tokens that return the right PNG")
    func blindTokens() async throws {
        let fixture = try RatingFixture()
        let harness = try RatingServerHarness(fixture)
        try await harness.run { client in
            var served: [String] = []
            for path in ["/", "/rate.css", "/rate.js"] {
                let reply = try await client.get(path)
                #expect(reply.status == .ok, "\(path): \(reply.status)")
                #expect(
                    reply.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("default-src 'none'") == true)
                served.append(reply.text)
            }
            #expect(!served[0].contains("http://") && !served[0].contains("https://"), "the page loads nothing remote")

            var seen = 0
            var reply = try await client.state("ann")
            while let promptID = reply.promptID {
                served.append(reply.text)
                let done = fixture.doneRenders(of: promptID)
                #expect(
                    reply.tokens.count == done.count, "\(promptID): one image per done render, failed ones left out")
                for token in reply.tokens {
                    #expect(token.count == 32 && token.allSatisfy(\.isHexDigit), "token \(token)")
                    let renderID = try #require(harness.session.tokens.renderID(for: token))
                    let render = try #require(fixture.render(renderID))
                    #expect(render.done && render.promptID == promptID)
                    let image = try await client.get("/api/images/\(token)")
                    #expect(image.status == .ok)
                    #expect(image.headers[.contentType] == "image/png")
                    let file = fixture.folder.appendingPathComponent("images/\(render.imageHash ?? "").png")
                    #expect(image.bytes == Array(try Data(contentsOf: file)), "token \(token) served another image")
                    seen += 1
                }
                _ = try await client.post("/api/skips", #"{"rater": "ann", "prompt": "\#(promptID)"}"#)
                reply = try await client.state("ann")
            }
            #expect(seen == fixture.renders.filter(\.done).count)
            for text in served {
                for generator in RatingFixture.generators {
                    #expect(!text.contains(generator), "'\(generator)' served to the page")
                }
                #expect(!text.contains("image_hash") && !text.contains("sample"))
            }
            for hash in fixture.renders.compactMap(\.imageHash) {
                #expect(!served.contains { $0.contains(hash) }, "an image hash reached the page")
            }
        }
    }

    @Test("each rater sees a prompt's images in a shuffled order of their own that stays the same on reload")
    func shuffledOrder() async throws {
        let fixture = try RatingFixture(prompts: 2, samples: 2, failing: [])
        let harness = try RatingServerHarness(fixture)
        try await harness.run { client in
            var orders: Set<[Int64]> = []
            for rater in (0..<8).map({ "rater \($0)" }) {
                let first = try await client.state(rater)
                let again = try await client.state(rater)
                #expect(first.tokens == again.tokens, "\(rater): the order changed on reload")
                let ids = first.tokens.compactMap { harness.session.tokens.renderID(for: $0) }
                #expect(Set(ids) == Set(fixture.doneRenders(of: "p0").map(\.id)))
                #expect(ids.count == 6)
                orders.insert(ids)
                // The other prompt has its own order (the same tokens would otherwise follow one pattern).
                let second = try await client.state(rater, prompt: "p1")
                #expect(second.promptID == "p1")
            }
            #expect(orders.count >= 4, "8 raters saw only \(orders.count) orders of 6 images")
            let sorted = fixture.doneRenders(of: "p0").map(\.id)
            #expect(orders != [sorted], "images are not shuffled")
        }
    }

    @Test("rating, re-rating, skipping and undo write ratings and rating_skips as the schema says")
    func ratingLifecycle() async throws {
        let fixture = try RatingFixture()
        let harness = try RatingServerHarness(fixture)
        try await harness.run { client in
            let state = try await client.state("ann")
            #expect(state.promptID == "p0")
            #expect(state.progress == ["done": 0, "skipped": 0, "total": 3])
            let tokens = state.tokens
            let ids = try tokens.map { try #require(harness.session.tokens.renderID(for: $0)) }

            var reply = try await client.rate("ann", tokens[0], 2)
            #expect(reply.status == .ok)
            reply = try await client.rate("ann", tokens[1], 5)
            reply = try await client.rate("ann", tokens[0], 3)  // re-rating replaces
            reply = try await client.rate("bob", tokens[0], 4)  // another rater, same image
            #expect(
                try fixture.ratings().map { [$0.renderID, Int64($0.rating)] + [$0.rater == "ann" ? 0 : 1] }.sorted {
                    $0.lexicographicallyPrecedes($1)
                } == [[ids[0], 3, 0], [ids[0], 4, 1], [ids[1], 5, 0]].sorted { $0.lexicographicallyPrecedes($1) })
            let stamp = try await fixture.openReader().read { db in
                try String.fetchOne(db, sql: "SELECT rated_at FROM ratings WHERE rater = 'ann' LIMIT 1")
            }
            #expect(
                stamp.map { $0.hasSuffix("Z") && $0.contains("T") && ISO8601DateFormatter.withMilliseconds($0) } == true
            )

            // The last image completes the prompt; the next state is the next prompt.
            reply = try await client.rate("ann", tokens[2], 1)
            #expect((reply.json["prompt"] as? [String: Any])?["complete"] as? Bool == true)
            #expect(try await client.state("ann").promptID == "p1")
            #expect(try await client.state("ann").progress["done"] == 1)

            reply = try await client.post("/api/skips", #"{"rater": "ann", "prompt": "p1"}"#)
            #expect(reply.status == .ok)
            #expect(reply.promptID == "p2")
            #expect(reply.progress == ["done": 2, "skipped": 1, "total": 3])
            #expect(try fixture.skips().map { "\($0.promptID)/\($0.rater)" } == ["p1/ann"])

            // Undo removes ann's newest rating (image 3 of p0), shows its prompt again, then the re-rated one.
            reply = try await client.post("/api/undo", #"{"rater": "ann"}"#)
            #expect(reply.status == .ok)
            #expect(reply.promptID == "p0")
            #expect((reply.json["undone"] as? [String: Any])?["token"] as? String == tokens[2])
            #expect((reply.json["undone"] as? [String: Any])?["rating"] as? Int == 1)
            #expect(try fixture.ratings().contains { $0.renderID == ids[2] } == false)
            reply = try await client.post("/api/undo", #"{"rater": "ann"}"#)
            #expect((reply.json["undone"] as? [String: Any])?["token"] as? String == tokens[0])
            reply = try await client.post("/api/undo", #"{"rater": "ann"}"#)
            reply = try await client.post("/api/undo", #"{"rater": "ann"}"#)
            #expect(reply.status == .conflict)
            #expect(reply.errorCode == "nothing_to_undo")
            #expect(try fixture.ratings().map(\.rater) == ["bob"], "bob's rating is not ann's to undo")
        }
    }

    @Test(
        "bad requests get a 4xx with a code and a message, and write nothing",
        arguments: [
            (
                "POST", "/api/ratings", #"{"rater": "ann", "image": "0123456789abcdef0123456789abcdef", "rating": 3}"#,
                404, "unknown_image"
            ),
            ("POST", "/api/ratings", #"{"rater": "ann", "rating": 3}"#, 404, "unknown_image"),
            ("POST", "/api/ratings", #"{"rater": "ann", "image": "TOKEN", "rating": 0}"#, 400, "invalid_rating"),
            ("POST", "/api/ratings", #"{"rater": "ann", "image": "TOKEN", "rating": 6}"#, 400, "invalid_rating"),
            ("POST", "/api/ratings", #"{"rater": "ann", "image": "TOKEN", "rating": 3.5}"#, 400, "invalid_rating"),
            ("POST", "/api/ratings", #"{"rater": "ann", "image": "TOKEN", "rating": "4"}"#, 400, "invalid_rating"),
            ("POST", "/api/ratings", #"{"rater": "ann", "image": "TOKEN", "rating": 1e300}"#, 400, "invalid_rating"),
            ("POST", "/api/ratings", #"{"rater": "ann", "image": "TOKEN"}"#, 400, "invalid_rating"),
            ("POST", "/api/ratings", #"{"rater": "  ", "image": "TOKEN", "rating": 3}"#, 400, "invalid_rater"),
            ("POST", "/api/ratings", #"{"image": "TOKEN", "rating": 3}"#, 400, "invalid_rater"),
            ("POST", "/api/ratings", #"{"rater": "a\u0007b", "image": "TOKEN", "rating": 3}"#, 400, "invalid_rater"),
            ("POST", "/api/ratings", #"{"rater": "ann", "image": "TOKEN", "rating": 3"#, 400, "invalid_json"),
            ("POST", "/api/ratings", #"[1, 2]"#, 400, "invalid_json"),
            ("POST", "/api/ratings", "", 400, "invalid_json"),
            ("POST", "/api/skips", #"{"rater": "ann", "prompt": "no-such-prompt"}"#, 404, "unknown_prompt"),
            ("POST", "/api/undo", #"{"rater": ""}"#, 400, "invalid_rater"),
            ("GET", "/api/state?rater=", "", 400, "invalid_rater"),
            ("GET", "/api/state?rater=ann&prompt=p9", "", 404, "unknown_prompt"),
            ("GET", "/api/images/0123456789abcdef0123456789abcdef", "", 404, "unknown_image"),
            ("GET", "/api/nothing-here", "", 404, "not_found"),
        ] as [(String, String, String, Int, String)])
    func badInput(method: String, path: String, body: String, status: Int, code: String) async throws {
        let fixture = try RatingFixture()
        let harness = try RatingServerHarness(fixture)
        try await harness.run { client in
            let token = try #require(try await client.state("ann").tokens.first)
            let reply =
                method == "GET"
                ? try await client.get(path)
                : try await client.post(path, body.replacingOccurrences(of: "TOKEN", with: token))
            #expect(Int(reply.status.code) == status, "\(method) \(path) \(body): \(reply.status) \(reply.text)")
            #expect(reply.errorCode == code, "\(reply.text)")
            #expect(reply.errorMessage.count > 10, "no useful message: \(reply.text)")
            #expect(try fixture.ratings().isEmpty && fixture.skips().isEmpty)
        }
    }

    @Test("a rater name with spaces and accents is the same rater in the query string and in JSON bodies")
    func raterNameEncoding() async throws {
        let fixture = try RatingFixture()
        try await RatingServerHarness(fixture).run { client in
            let name = "Zoë K. (panel 2)"
            let tokens = try await client.state(name).tokens
            let reply = try await client.post(
                "/api/ratings", #"{"rater": "  \#(name)  ", "image": "\#(tokens[1])", "rating": 4}"#)
            #expect(reply.status == .ok)
            #expect(reply.json["rater"] as? String == name, "the name is stored trimmed")
            let again = try await client.state(name)
            let images = (again.json["prompt"] as? [String: Any])?["images"] as? [[String: Any]] ?? []
            #expect(images.map { $0["rating"] as? Int } == [nil, 4, nil])
            #expect(try fixture.ratings().map(\.rater) == [name])
        }
    }

    @Test("an image whose file is gone from images/ gets a 404 naming the problem, and the server keeps serving")
    func missingImageFile() async throws {
        let fixture = try RatingFixture()
        let harness = try RatingServerHarness(fixture)
        try await harness.run { client in
            let tokens = try await client.state("ann").tokens
            let renderID = try #require(harness.session.tokens.renderID(for: tokens[0]))
            let hash = try #require(fixture.render(renderID)?.imageHash)
            try FileManager.default.removeItem(at: fixture.folder.appendingPathComponent("images/\(hash).png"))
            let reply = try await client.get("/api/images/\(tokens[0])")
            #expect(reply.status == .notFound)
            #expect(reply.errorCode == "missing_image_file")
            #expect(try await client.get("/api/images/\(tokens[1])").status == .ok)
        }
    }

    @Test("a body over the limit gets 413")
    func bodyTooLarge() async throws {
        let fixture = try RatingFixture()
        try await RatingServerHarness(fixture).run { client in
            let reply = try await client.post(
                "/api/ratings", #"{"rater": "\#(String(repeating: "x", count: 40_000))", "rating": 3}"#)
            #expect(reply.status == .contentTooLarge)
            #expect(reply.errorCode == "body_too_large")
        }
    }

    @Test("a reader holding a read transaction is neither blocked nor blocking while ratings are written (WAL)")
    func concurrentReader() async throws {
        let fixture = try RatingFixture(prompts: 4, samples: 2, failing: [])
        let harness = try RatingServerHarness(fixture)
        let reader = try fixture.openReader()
        try await harness.run { client in
            var tokens: [String] = []
            for prompt in ["p0", "p1", "p2", "p3"] { tokens += try await client.state("ann", prompt: prompt).tokens }
            #expect(tokens.count == 24)
            let inside = DispatchSemaphore(value: 0)
            let release = DispatchSemaphore(value: 0)
            defer { release.signal() }  // never leave the reader waiting, even when a check throws
            // A long read transaction on its own connection: its snapshot must not change, and writes must go on.
            async let snapshot = offCooperativePool { () throws -> (Int, Int) in
                try reader.read { db in
                    let before = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM ratings") ?? -1
                    inside.signal()
                    _ = release.wait(timeout: .now() + 120)
                    let after = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM ratings") ?? -1
                    return (before, after)
                }
            }
            let entered = try await offCooperativePool { inside.wait(timeout: .now() + 120) == .success }
            #expect(entered, "the reader never began its transaction")
            for (index, token) in tokens.enumerated() {
                let reply = try await client.rate(index % 2 == 0 ? "ann" : "bob", token, 1 + index % 5)
                #expect(reply.status == .ok, "rating \(index) while a reader was open: \(reply.text)")
                // Readers on other connections see each committed rating at once.
                let seen = try await reader.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM ratings") }
                #expect(seen == index + 1)
            }
            release.signal()
            let (before, after) = try await snapshot
            #expect(before == 0 && after == 0, "the open read transaction saw \(before) then \(after) rows")
        }
        let checks = try await reader.read { db in
            (
                try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                try String.fetchOne(db, sql: "PRAGMA integrity_check"),
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM ratings")
            )
        }
        #expect(checks.0 == "wal")
        #expect(checks.1 == "ok")
        #expect(checks.2 == 24)
    }
}

extension ISO8601DateFormatter {
    /// True when `text` is an ISO 8601 UTC time with fractional seconds.
    static func withMilliseconds(_ text: String) -> Bool {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text) != nil
    }
}
