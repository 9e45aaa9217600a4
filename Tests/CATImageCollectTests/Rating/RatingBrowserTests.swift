import Foundation
import Testing

@testable import CATImageCollect

/// The rating page as a rater uses it: served by the rating server on loopback, opened in a real headless Chromium
/// that clicks and presses keys, checked in the collection database afterwards.
@Suite("Rating page in headless Chromium")
struct RatingBrowserTests {
    /// What the browser showed, for checks made after it closed.
    struct Observed: Sendable {
        var tokens: [[String]] = []
        var promptNumbers: [String] = []
        var progress = ""
        var message = ""
        var dom = ""
        var resources: [String] = []
        var tokensAfterReload: [String] = []
        var raterAfterReload = ""
        var focusTrail: [String] = []
    }

    @Test(
        "a rater names themself, rates by mouse and keys 1-5 with Tab, skips and undoes; the rows match and no generator is named"
    )
    func rateInChromium() async throws {
        let fixture = try RatingFixture(imageSize: 192)
        let harness = try RatingServerHarness(fixture)
        let observed = try await harness.run { client in
            guard let port = client.port else { throw BrowserFailure("the live test server has no port") }
            return try await offCooperativePool { try Self.drive(port: port) }
        }

        // The page showed each prompt's done images: 3, then 2 (one render failed), then 3.
        #expect(observed.tokens.map(\.count) == [3, 2, 3])
        #expect(observed.promptNumbers == ["1 of 3", "2 of 3", "3 of 3"])
        // Focus went A → (click on B) → C → A → Tab → B → A, as the key scheme says.
        #expect(observed.focusTrail == ["0", "2", "0", "1", "0"], "focus: \(observed.focusTrail)")
        let id = { (token: String) throws -> Int64 in
            try #require(harness.session.tokens.renderID(for: token), "token \(token) unknown to the server")
        }
        let (p0, p1, p2) = (observed.tokens[0], observed.tokens[1], observed.tokens[2])
        let expected = [
            (try id(p0[0]), 3), (try id(p0[1]), 5), (try id(p0[2]), 2), (try id(p1[0]), 1), (try id(p2[0]), 4),
        ].sorted { $0.0 < $1.0 }
        let rows = try fixture.ratings()
        #expect(rows.map(\.renderID) == expected.map(\.0), "rated renders \(rows)")
        #expect(rows.map(\.rating) == expected.map(\.1), "ratings \(rows)")
        #expect(rows.allSatisfy { $0.rater == "ann" })
        #expect(!rows.contains { $0.renderID == (try? id(p2[1])) }, "the undone rating is still there")
        #expect(try fixture.skips().map { "\($0.promptID)/\($0.rater)" } == ["p1/ann"])
        for (index, tokens) in observed.tokens.enumerated() {
            #expect(Set(try tokens.map(id)) == Set(fixture.doneRenders(of: "p\(index)").map(\.id)))
        }

        #expect(observed.progress == "2 of 3 prompts done (1 skipped)")
        #expect(observed.message.hasPrefix("Undid rating 5 of image B"), "message: \(observed.message)")
        // Reloading keeps the rater (localStorage) and the order.
        #expect(observed.raterAfterReload == "ann")
        #expect(observed.tokensAfterReload == p2)

        // Blind: no generator name anywhere in the DOM or in a URL the page loaded; nothing loaded from elsewhere.
        for generator in RatingFixture.generators {
            #expect(!observed.dom.contains(generator), "'\(generator)' is in the page")
            #expect(!observed.resources.contains { $0.contains(generator) })
        }
        #expect(!observed.resources.isEmpty)
        #expect(observed.resources.allSatisfy { $0.hasPrefix("http://127.0.0.1:") }, "\(observed.resources)")
    }

    /// The browser session, step by step (blocking; run off the cooperative pool).
    static func drive(port: Int) throws -> Observed {
        let browser = try DevToolsBrowser(width: 1280, height: 900)
        defer { browser.shutDown() }
        var observed = Observed()
        let cards = "document.querySelectorAll('#images .card')"
        let idle = "document.body.dataset.status === 'idle'"
        let imagesLoaded =
            "Array.from(document.querySelectorAll('#images img')).every(i => i.complete && i.naturalWidth > 0)"
        func focused() throws -> String {
            try browser.evaluate("document.activeElement.dataset.position || ''") as? String ?? ""
        }
        func rated(_ position: Int) -> String { "\(cards)[\(position)].classList.contains('rated')" }
        func showPrompt(_ number: Int, images: Int) throws {
            try browser.waitFor(
                "\(idle) && document.getElementById('prompt-number').textContent === '\(number) of 3' && "
                    + "\(cards).length === \(images) && \(imagesLoaded)",
                what: "prompt \(number) with \(images) loaded images")
            observed.tokens.append(
                try browser.evaluate("Array.from(\(cards)).map(c => c.dataset.token)") as? [String] ?? [])
            observed.promptNumbers.append(
                try browser.evaluate("document.getElementById('prompt-number').textContent") as? String ?? "")
        }

        try browser.navigate(to: "http://127.0.0.1:\(port)/")
        try browser.waitFor("!document.getElementById('login').hidden", what: "the rater form")
        try browser.click("#rater-name")
        try browser.insertText("ann")
        try browser.press("Enter")

        // Prompt 1: click B's 4; keys: 2 (on C), Tab (to B), 5 (re-rates B), 3 (on A) completes the prompt.
        try showPrompt(1, images: 3)
        observed.focusTrail.append(try focused())
        try browser.click("#images .card[data-position=\"1\"] .scale button[data-value=\"4\"]")
        try browser.waitFor("\(idle) && \(rated(1))", what: "B rated by a click")
        observed.focusTrail.append(try focused())
        try browser.press("2")
        try browser.waitFor("\(idle) && \(rated(2))", what: "C rated with key 2")
        observed.focusTrail.append(try focused())
        try browser.press("Tab")
        try browser.waitFor("document.activeElement.dataset.position === '1'", what: "Tab to move to B")
        observed.focusTrail.append(try focused())
        try browser.press("5")
        try browser.waitFor(
            "\(idle) && \(cards)[1].querySelector('button[data-value=\"5\"]').getAttribute('aria-pressed') === 'true'",
            what: "B re-rated 5")
        observed.focusTrail.append(try focused())
        if let path = ProcessInfo.processInfo.environment["CATIMAGE_RATE_SCREENSHOT"], !path.isEmpty {
            try browser.screenshot().write(to: URL(fileURLWithPath: path))
        }
        try browser.press("3")

        // Prompt 2 (two done images): rate A 1, then skip the prompt with S.
        try showPrompt(2, images: 2)
        try browser.press("1")
        try browser.waitFor("\(idle) && \(rated(0))", what: "prompt 2's A rated 1")
        try browser.press("s")

        // Prompt 3: A 4, B 5, then U undoes B's rating.
        try showPrompt(3, images: 3)
        try browser.press("4")
        try browser.waitFor("\(idle) && \(rated(0))", what: "prompt 3's A rated 4")
        try browser.press("5")
        try browser.waitFor("\(idle) && \(rated(1))", what: "prompt 3's B rated 5")
        try browser.press("u")
        try browser.waitFor(
            "\(idle) && !\(rated(1)) && document.getElementById('message').textContent.startsWith('Undid')",
            what: "the undo")
        observed.progress = try browser.evaluate("document.getElementById('progress').textContent") as? String ?? ""
        observed.message = try browser.evaluate("document.getElementById('message').textContent") as? String ?? ""
        observed.dom = try browser.evaluate("document.documentElement.outerHTML") as? String ?? ""
        observed.resources =
            try browser.evaluate("performance.getEntriesByType('resource').map(e => e.name).concat([location.href])")
            as? [String] ?? []

        try browser.reload()
        try browser.waitFor(
            "document.getElementById('login').hidden && \(idle) && \(cards).length === 3", what: "the reloaded page")
        observed.tokensAfterReload =
            try browser.evaluate("Array.from(\(cards)).map(c => c.dataset.token)") as? [String] ?? []
        observed.raterAfterReload =
            try browser.evaluate("document.getElementById('rater-label').textContent") as? String ?? ""
        return observed
    }
}
