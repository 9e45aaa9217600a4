import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A one-line progress bar on standard error: `label [██████······] 300/600 prompts  41.3/s  0:07 left  detail`.
///
/// Drawn only when standard error is a terminal (and not disabled, e.g. under `--json`); piped, it draws
/// nothing and ``status(_:)`` lines print plainly instead. Safe to update from worker threads; redraws at most
/// ten times a second. The rate counts only the work done since the first update, so cached rows read back
/// in one go do not inflate it for long.
final class ProgressBar: Sendable {
    private struct State {
        var started: UInt64?
        var startDone = 0
        var lastDraw: UInt64 = 0
        var drawn = false
        var done = 0
        var total = 0
        var detail = ""
    }

    private let label: String
    private let unit: String
    private let enabled: Bool
    private let state = Mutex(State())

    /// - Parameters:
    ///   - label: what is being done ("embedding", "evaluating").
    ///   - unit: what is counted ("prompts", "fits"); shown after the count.
    ///   - enabled: `false` keeps the bar hidden even on a terminal.
    init(label: String, unit: String = "", enabled: Bool = true) {
        self.label = label
        self.unit = unit
        self.enabled = enabled && Terminal.stderrIsTTY
    }

    /// Whether the bar is drawn (standard error is a terminal and the bar was not disabled).
    var isDrawn: Bool { enabled }

    /// Sets the progress to `done` of `total` and redraws (throttled; always at the end).
    func update(_ done: Int, _ total: Int) {
        guard enabled, total > 0 else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        state.withLock { state in
            if state.started == nil {
                state.started = now
                state.startDone = done
            }
            state.done = done
            state.total = total
            guard done >= total || now &- state.lastDraw > 100_000_000 else { return }
            draw(&state, now: now)
        }
    }

    /// A status line: shown at the end of the bar on a terminal, printed as a plain line otherwise.
    func status(_ line: String) {
        guard enabled else {
            Terminal.printError(line)
            return
        }
        let now = DispatchTime.now().uptimeNanoseconds
        state.withLock { state in
            state.detail = line
            if state.total > 0 { draw(&state, now: now) }
        }
    }

    /// Ends the bar's line (the last drawing stays on screen).
    func finish() {
        guard enabled else { return }
        state.withLock { state in
            if state.drawn { FileHandle.standardError.write(Data("\n".utf8)) }
            state.drawn = false
        }
    }

    private func draw(_ state: inout State, now: UInt64) {
        state.lastDraw = now
        state.drawn = true
        let width = 24
        let filled = min(width, max(0, state.done * width / state.total))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        var line = "\(label) [\(bar)] \(state.done)/\(state.total)\(unit.isEmpty ? "" : " " + unit)"
        let seconds = Double(now &- (state.started ?? now)) / 1e9
        let progressed = state.done - state.startDone
        if seconds > 0.2, progressed > 0 {
            let rate = Double(progressed) / seconds
            line += "  " + Self.rate(rate) + "/s"
            line +=
                state.done >= state.total
                ? "  " + Self.duration(seconds)
                : "  " + Self.duration(Double(state.total - state.done) / rate) + " left"
        }
        if !state.detail.isEmpty && state.done < state.total { line += "  " + state.detail }
        let columns = Self.terminalColumns()
        if line.count > columns - 1 { line = String(line.prefix(max(10, columns - 2))) + "…" }
        // Carriage return and erase-line keep the bar on one line however long the previous drawing was.
        FileHandle.standardError.write(Data("\r\u{1B}[2K\(line)".utf8))
    }

    static func rate(_ value: Double) -> String {
        value >= 100
            ? String(format: "%.0f", value)
            : value >= 10
                ? String(format: "%.1f", value)
                : String(format: "%.2f", value)
    }

    /// `0:07`, `12:30`, `1:02:03`.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let total = Int(seconds.rounded())
        let (h, m, s) = (total / 3600, total / 60 % 60, total % 60)
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, s) : String(format: "%d:%02d", m, s)
    }

    static func terminalColumns() -> Int {
        var size = winsize()
        if ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 20 { return Int(size.ws_col) }
        return 100
    }
}
