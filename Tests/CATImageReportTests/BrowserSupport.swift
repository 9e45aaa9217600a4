import Foundation

/// Headless Chromium, run as a separate process.
struct ChromiumRunner {
    let executable: String

    /// Names tried on `PATH` (after `$CATIMAGE_CHROMIUM`).
    static let candidates = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]

    /// The browser named by `$CATIMAGE_CHROMIUM`, else the first of ``candidates`` on `PATH`; a clear failure
    /// naming `scripts/setup.sh` when there is none.
    static func locate() throws -> ChromiumRunner {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["CATIMAGE_CHROMIUM"], !path.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw FixtureError("CATIMAGE_CHROMIUM=\(path) is not an executable file")
            }
            return ChromiumRunner(executable: path)
        }
        let folders = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init)
        for name in candidates {
            for folder in folders where FileManager.default.isExecutableFile(atPath: folder + "/" + name) {
                return ChromiumRunner(executable: folder + "/" + name)
            }
        }
        throw FixtureError(
            "Chromium is not installed (none of \(candidates.joined(separator: ", ")) on PATH): this test renders "
                + "the HTML report in a real headless browser. scripts/setup.sh installs it (Debian package "
                + "`chromium`), or set CATIMAGE_CHROMIUM to a Chromium/Chrome binary.")
    }

    /// Flags that keep Chromium from making requests of its own, so that any request is the page's.
    static let quietFlags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
        "--disable-domain-reliability", "--disable-client-side-phishing-detection", "--no-pings",
        "--metrics-recording-only",
    ]

    /// The DOM of `page` after loading (scripts run, virtual time budget of 3 s), logging network events.
    func dumpDOM(of page: String, netLog: String) throws -> String {
        let profile = try TemporaryFolder()
        return try run(
            Self.quietFlags + [
                "--user-data-dir=\(profile.path("profile"))", "--log-net-log=\(netLog)",
                "--virtual-time-budget=3000", "--dump-dom", URL(fileURLWithPath: page).absoluteString,
            ])
    }

    /// Saves a PNG screenshot of `page` at the given window size.
    func screenshot(of page: String, to png: String, width: Int = 1280, height: Int = 2000) throws {
        let profile = try TemporaryFolder()
        _ = try run(
            Self.quietFlags + [
                "--user-data-dir=\(profile.path("profile"))", "--hide-scrollbars", "--screenshot=\(png)",
                "--window-size=\(width),\(height)", URL(fileURLWithPath: page).absoluteString,
            ])
    }

    /// Runs Chromium with `arguments`; its standard output, or a failure with the end of its standard error.
    func run(_ arguments: [String], timeout: Double = 120) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        let errors = try TemporaryFolder()
        let errorPath = errors.path("stderr.txt")
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        process.standardInput = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            throw FixtureError(
                "\(executable) did not finish within \(Int(timeout)) s: \(arguments.joined(separator: " "))")
        }
        guard process.terminationStatus == 0 else {
            let stderr = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
            throw FixtureError(
                "\(executable) exited with status \(process.terminationStatus): \(String(stderr.suffix(2000)))")
        }
        return String(decoding: stdout, as: UTF8.self)
    }

    /// The URLs the page requested over the network, from a Chromium net log (`--log-net-log`): every
    /// `URL_REQUEST_START_JOB` with a page initiator. Chromium's own requests (update checks, time, account
    /// lookups, which the flags above do not all silence) carry the initiator "not an origin" and are left out.
    static func networkRequests(inNetLog path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path),
            let log = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let constants = log["constants"] as? [String: Any],
            let types = constants["logEventTypes"] as? [String: Int],
            let startJob = types["URL_REQUEST_START_JOB"],
            let events = log["events"] as? [[String: Any]]
        else { throw FixtureError("Chromium wrote no readable network log at \(path)") }
        var urls: Set<String> = []
        for event in events where event["type"] as? Int == startJob {
            guard let parameters = event["params"] as? [String: Any], let url = parameters["url"] as? String
            else { continue }
            if parameters["initiator"] as? String == "not an origin" { continue }
            urls.insert(url)
        }
        return urls.sorted()
    }
}

/// A page as Chromium serialised it (`--dump-dom`), read with a few patterns: Chromium's serialiser writes
/// every element with explicit end tags and attributes in double quotes, which keeps the patterns simple.
struct RenderedDocument {
    let html: String

    init(_ html: String) { self.html = html }

    /// The page's text: tags removed, entities decoded.
    var text: String { Self.decode(Self.stripTags(html)) }

    /// The first `<name …>…</name>` element, whole.
    func firstElement(_ name: String) -> String? {
        Self.matches("(<\(name)\\b[\\s\\S]*?</\(name)>)", in: html).first?[0]
    }

    /// The start tags of every `name` element in `html`.
    static func elements(_ name: String, in html: String) -> [String] {
        matches("(<\(name)\\b[^>]*>)", in: html).map { $0[0] }
    }

    /// The text of every `name` element in `html`.
    static func elementTexts(_ name: String, in html: String) -> [String] {
        matches("<\(name)\\b[^>]*>([\\s\\S]*?)</\(name)>", in: html).map { decode(stripTags($0[0])) }
    }

    /// An attribute's value in a start tag.
    static func attribute(_ name: String, of tag: String) -> String? {
        matches("\\s\(name)=\"([^\"]*)\"", in: tag).first.map { decode($0[0]) }
    }

    /// Every table row as its cells' texts (header and data cells alike), in page order.
    func tableRows() -> [[String]] {
        Self.matches("<tr\\b[^>]*>([\\s\\S]*?)</tr>", in: html).map { row in
            Self.matches("<t[dh]\\b[^>]*>([\\s\\S]*?)</t[dh]>", in: row[0]).map {
                Self.decode(Self.stripTags($0[0])).trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
    }

    /// The texts of every list item.
    func listItems() -> Set<String> {
        Set(Self.elementTexts("li", in: html))
    }

    /// The values of the named attributes anywhere on the page.
    func attributeValues(_ names: [String]) -> [String] {
        let alternatives = names.map { NSRegularExpression.escapedPattern(for: $0) }.joined(separator: "|")
        return Self.matches("\\s(?:\(alternatives))=\"([^\"]*)\"", in: html).map { Self.decode($0[0]) }
    }

    static func stripTags(_ html: String) -> String {
        html.replacingOccurrences(of: "<[^>]*>", with: "", options: .regularExpression)
    }

    /// Decodes the entities Chromium's serialiser writes (and numeric ones).
    static func decode(_ text: String) -> String {
        var result = text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&nbsp;", with: "\u{A0}")
            .replacingOccurrences(of: "&#39;", with: "'")
        for match in matches("&#(x?[0-9a-fA-F]+);", in: result) {
            let code = match[0].hasPrefix("x") ? UInt32(match[0].dropFirst(), radix: 16) : UInt32(match[0])
            if let code, let scalar = Unicode.Scalar(code) {
                result = result.replacingOccurrences(of: "&#\(match[0]);", with: String(Character(scalar)))
            }
        }
        return result.replacingOccurrences(of: "&amp;", with: "&")
    }

    /// The capture groups of every match of `pattern` in `text`.
    static func matches(_ pattern: String, in text: String) -> [[String]] {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return [] }
        let range = NSRange(text.startIndex..., in: text)
        return regex.matches(in: text, range: range).map { match in
            (1..<max(1, match.numberOfRanges)).compactMap {
                Range(match.range(at: $0), in: text).map { String(text[$0]) }
            }
        }
    }
}

/// A temporary folder, removed when the value is released.
final class TemporaryFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("catimage-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}
