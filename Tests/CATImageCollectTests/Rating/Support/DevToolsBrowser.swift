import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failure of the browser harness, with what went wrong.
struct BrowserFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Headless Chromium driven over the DevTools protocol through a pipe (`--remote-debugging-pipe`: Chromium reads
/// commands on its fd 3 and writes replies and events on its fd 4, each a JSON message ended by a NUL byte), so
/// the test needs no WebSocket client. Input goes through `Input.dispatchMouseEvent`/`dispatchKeyEvent`, the
/// browser's real input path: focus, Tab navigation and key handlers behave as with a person at the keyboard.
///
/// Blocking: use it from one thread (the tests run it inside `DispatchQueue`-backed closures, off the
/// cooperative pool that serves the rating server).
final class DevToolsBrowser {
    /// Names tried on `PATH` (after `$CATIMAGE_CHROMIUM`), as in the HTML report's browser test.
    static let candidates = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]

    private let pid: pid_t
    private let commands: Int32
    private let replies: Int32
    private let profile: URL
    private var received: [UInt8] = []
    private var nextID = 1
    private var sessionID: String?
    private var closed = false

    /// The browser named by `$CATIMAGE_CHROMIUM`, else the first of ``candidates`` on `PATH`; a clear failure naming
    /// `scripts/setup.sh` when there is none.
    static func locate() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["CATIMAGE_CHROMIUM"], !path.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw BrowserFailure("CATIMAGE_CHROMIUM=\(path) is not an executable file")
            }
            return path
        }
        for folder in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            for name in candidates where FileManager.default.isExecutableFile(atPath: "\(folder)/\(name)") {
                return "\(folder)/\(name)"
            }
        }
        throw BrowserFailure(
            "Chromium is not installed (none of \(candidates.joined(separator: ", ")) on PATH): this test drives the "
                + "rating page in a real headless browser. scripts/setup.sh installs it (Debian package `chromium`), "
                + "or set CATIMAGE_CHROMIUM to a Chromium/Chrome binary.")
    }

    /// Starts headless Chromium with a fresh profile and attaches to its page at `width`×`height` CSS pixels.
    init(width: Int = 1280, height: Int = 900) throws {
        let executable = try Self.locate()
        profile = FileManager.default.temporaryDirectory.appendingPathComponent(
            "catimage-chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        let arguments = [
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--no-pings", "--metrics-recording-only",
            "--remote-debugging-pipe", "--user-data-dir=\(profile.path)", "--window-size=\(width),\(height)",
            "about:blank",
        ]
        // Pipe ends moved to fds ≥ 10 and marked close-on-exec, so only the dup2'ed copies (3 and 4) reach Chromium.
        func pipePair() throws -> (read: Int32, write: Int32) {
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { throw BrowserFailure("pipe() failed: errno \(errno)") }
            let high = fds.map { fd -> Int32 in
                let moved = fcntl(fd, F_DUPFD_CLOEXEC, 10)
                close(fd)
                return moved
            }
            guard high.allSatisfy({ $0 >= 10 }) else { throw BrowserFailure("fcntl(F_DUPFD_CLOEXEC) failed") }
            return (high[0], high[1])
        }
        let toBrowser = try pipePair()
        let fromBrowser = try pipePair()
        let logPath = profile.appendingPathComponent("chromium.log").path

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_adddup2(&actions, toBrowser.read, 3)
        posix_spawn_file_actions_adddup2(&actions, fromBrowser.write, 4)
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, &actions, nil, argv, environ)
        close(toBrowser.read)
        close(fromBrowser.write)
        guard status == 0 else {
            close(toBrowser.write)
            close(fromBrowser.read)
            throw BrowserFailure("cannot start \(executable): posix_spawn error \(status)")
        }
        pid = child
        commands = toBrowser.write
        replies = fromBrowser.read

        do {
            let targets = try send("Target.getTargets")
            let infos = targets["targetInfos"] as? [[String: Any]] ?? []
            guard let page = infos.first(where: { $0["type"] as? String == "page" })?["targetId"] as? String else {
                throw BrowserFailure("Chromium has no page target: \(infos)")
            }
            let attached = try send("Target.attachToTarget", ["targetId": page, "flatten": true])
            guard let session = attached["sessionId"] as? String else {
                throw BrowserFailure("Target.attachToTarget gave no session: \(attached)")
            }
            sessionID = session
            _ = try send(
                "Emulation.setDeviceMetricsOverride",
                ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": false])
        } catch {
            shutDown()
            throw error
        }
    }

    deinit { shutDown() }

    /// Closes the browser (politely, then with SIGKILL after 10 s) and removes its profile.
    func shutDown() {
        guard !closed else { return }
        closed = true
        sessionID = nil
        _ = try? send("Browser.close", timeout: 5)
        close(commands)
        close(replies)
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(10)
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() > deadline {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                break
            }
            usleep(50_000)
        }
        try? FileManager.default.removeItem(at: profile)
    }

    /// Sends a command (to the attached page once there is one) and returns its `result`.
    @discardableResult
    func send(_ method: String, _ parameters: [String: Any] = [:], timeout: Double = 120) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        var message: [String: Any] = ["id": id, "method": method, "params": parameters]
        if let sessionID { message["sessionId"] = sessionID }
        var bytes = Array(try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(commands, $0.baseAddress, $0.count) }
            guard written > 0 else { throw BrowserFailure("writing to Chromium failed (errno \(errno)): \(method)") }
            offset += written
        }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let reply = try readMessage(until: deadline, waitingFor: method)
            guard reply["id"] as? Int == id else { continue }  // an event, or a reply to an abandoned command
            if let error = reply["error"] as? [String: Any] {
                throw BrowserFailure("\(method) failed: \(error["message"] ?? error)")
            }
            return reply["result"] as? [String: Any] ?? [:]
        }
    }

    private func readMessage(until deadline: Date, waitingFor method: String) throws -> [String: Any] {
        while true {
            if let end = received.firstIndex(of: 0) {
                let message = Array(received[..<end])
                received.removeSubrange(...end)
                guard let object = try? JSONSerialization.jsonObject(with: Data(message)) as? [String: Any] else {
                    throw BrowserFailure("Chromium sent a message that is not a JSON object")
                }
                return object
            }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { throw BrowserFailure("Chromium did not answer \(method) in time") }
            var descriptor = pollfd(fd: replies, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(min(remaining, 1) * 1000))
            if ready < 0 && errno != EINTR { throw BrowserFailure("poll failed: errno \(errno)") }
            guard ready > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let count = chunk.withUnsafeMutableBytes { read(replies, $0.baseAddress, $0.count) }
            guard count > 0 else {
                throw BrowserFailure("Chromium closed its DevTools pipe while we waited for \(method)")
            }
            received += chunk[..<count]
        }
    }

    /// Loads `url` and waits for the document to finish loading.
    func navigate(to url: String) throws {
        try send("Page.navigate", ["url": url])
        try waitFor("document.readyState === 'complete' && location.href === \(Self.quoted(url))", what: "load \(url)")
    }

    /// Reloads the page and waits for it to finish loading.
    func reload() throws {
        try evaluate("window.__reloading = true")
        try send("Page.reload")
        try waitFor("!window.__reloading && document.readyState === 'complete'", what: "reload")
    }

    /// The value of a JavaScript expression (promises awaited), as JSON-compatible values.
    @discardableResult
    func evaluate(_ expression: String) throws -> Any? {
        let result = try send(
            "Runtime.evaluate", ["expression": expression, "returnByValue": true, "awaitPromise": true])
        if let exception = result["exceptionDetails"] as? [String: Any] {
            let text = (exception["exception"] as? [String: Any])?["description"] ?? exception["text"] ?? exception
            throw BrowserFailure("\(expression): \(text)")
        }
        return (result["result"] as? [String: Any])?["value"]
    }

    /// Polls `expression` until it is true, or fails after `timeout` seconds saying `what` did not happen.
    func waitFor(_ expression: String, timeout: Double = 90, what: String) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var lastError: (any Error)?
        while Date() < deadline {
            do {
                if try evaluate("Boolean(\(expression))") as? Bool == true { return }
            } catch {
                lastError = error  // e.g. the context was replaced by a navigation
            }
            usleep(50_000)
        }
        throw BrowserFailure(
            "timed out after \(Int(timeout)) s waiting for \(what)\(lastError.map { ": \($0)" } ?? "")")
    }

    /// Clicks the centre of the first element matching `selector` with the left mouse button.
    func click(_ selector: String) throws {
        let point =
            try evaluate(
                """
                (() => { const e = document.querySelector(\(Self.quoted(selector)));
                  if (!e) { return null; }
                  e.scrollIntoView({ block: 'center' });
                  const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()
                """) as? [Double]
        guard let point, point.count == 2 else { throw BrowserFailure("no element matches \(selector)") }
        try send("Input.dispatchMouseEvent", ["type": "mouseMoved", "x": point[0], "y": point[1]])
        for type in ["mousePressed", "mouseReleased"] {
            try send(
                "Input.dispatchMouseEvent",
                ["type": type, "x": point[0], "y": point[1], "button": "left", "clickCount": 1])
        }
    }

    /// Presses and releases a key: a digit, a letter, or one of Tab, Enter, Backspace, ArrowLeft, ArrowRight.
    func press(_ key: String) throws {
        let named: [String: (code: String, keyCode: Int, text: String?)] = [
            "Tab": ("Tab", 9, nil), "Enter": ("Enter", 13, "\r"), "Backspace": ("Backspace", 8, nil),
            "ArrowLeft": ("ArrowLeft", 37, nil), "ArrowRight": ("ArrowRight", 39, nil),
        ]
        let code: String
        let keyCode: Int
        let text: String?
        if let known = named[key] {
            (code, keyCode, text) = known
        } else if key.count == 1, let character = key.first, character.isASCII, character.isNumber || character.isLetter
        {
            let upper = character.uppercased()
            code = character.isNumber ? "Digit\(character)" : "Key\(upper)"
            keyCode = Int(upper.unicodeScalars.first?.value ?? 0)
            text = key
        } else {
            throw BrowserFailure("press: no key definition for '\(key)'")
        }
        var down: [String: Any] = [
            "type": text == nil ? "rawKeyDown" : "keyDown", "key": key, "code": code, "windowsVirtualKeyCode": keyCode,
        ]
        if let text { down["text"] = text }
        try send("Input.dispatchKeyEvent", down)
        try send(
            "Input.dispatchKeyEvent", ["type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": keyCode])
    }

    /// Types text into the focused element.
    func insertText(_ text: String) throws {
        try send("Input.insertText", ["text": text])
    }

    /// A PNG screenshot of the viewport.
    func screenshot() throws -> Data {
        let result = try send("Page.captureScreenshot", ["format": "png"])
        guard let base64 = result["data"] as? String, let data = Data(base64Encoded: base64) else {
            throw BrowserFailure("Page.captureScreenshot returned no image")
        }
        return data
    }

    /// `text` as a JavaScript string literal.
    static func quoted(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text])) ?? Data("[\"\"]".utf8)
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }
}
