import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Terminal output helpers: colour only on a terminal, warnings on standard error.
enum Terminal {
    /// Whether standard output is a terminal (colour and progress bars only then).
    static let stdoutIsTTY = isatty(STDOUT_FILENO) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    /// Whether standard error is a terminal.
    static let stderrIsTTY = isatty(STDERR_FILENO) != 0

    /// Writes a line to standard error.
    static func printError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// A warning on standard error.
    static func warn(_ message: String) {
        printError(stderrIsTTY ? "\u{1B}[33mwarning:\u{1B}[0m \(message)" : "warning: \(message)")
    }

    /// Bold text on a terminal, plain text otherwise.
    static func bold(_ text: String) -> String {
        stdoutIsTTY ? "\u{1B}[1m\(text)\u{1B}[0m" : text
    }

    /// Dim text on a terminal, plain text otherwise.
    static func dim(_ text: String) -> String {
        stdoutIsTTY ? "\u{1B}[2m\(text)\u{1B}[0m" : text
    }

    /// Green text on a terminal, plain text otherwise.
    static func green(_ text: String) -> String {
        stdoutIsTTY ? "\u{1B}[32m\(text)\u{1B}[0m" : text
    }
}

/// A plain-text table with aligned columns.
struct TextTable {
    enum Alignment { case left, right }

    var header: [String]
    var alignments: [Alignment]
    var rows: [[String]] = []

    init(_ header: [String], alignments: [Alignment]? = nil) {
        self.header = header
        self.alignments = alignments ?? header.indices.map { $0 == 0 ? .left : .right }
    }

    mutating func add(_ row: [String]) {
        precondition(row.count == header.count, "row of \(row.count) cells for \(header.count) columns")
        rows.append(row)
    }

    func render() -> String {
        let widths = header.indices.map { c in ([header[c]] + rows.map { $0[c] }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.indices.map { c in
                let padding = String(repeating: " ", count: widths[c] - cells[c].count)
                return alignments[c] == .left ? cells[c] + padding : padding + cells[c]
            }.joined(separator: "  ")
        }
        var lines = [Terminal.bold(line(header))]
        lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
        lines += rows.map(line)
        return lines.joined(separator: "\n")
    }
}

/// Number formatting shared by reports.
enum Format {
    static func fixed(_ value: Double?, _ digits: Int = 3) -> String {
        guard let value else { return "-" }
        return String(format: "%.\(digits)f", value)
    }

    /// "value ± spread" (the spread left out when absent), "-" without a value.
    static func plusMinus(_ value: Double?, _ spread: Double?, _ digits: Int = 3) -> String {
        guard let value else { return "-" }
        return fixed(value, digits) + (spread.map { " ± " + fixed($0, digits) } ?? "")
    }

    static func percent(_ value: Double?, _ digits: Int = 1) -> String {
        guard let value else { return "-" }
        return String(format: "%.\(digits)f%%", value * 100)
    }
}

/// JSON output shared by every `--json` report: sorted keys, pretty, one object.
enum JSONOutput {
    static func print<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        Swift.print(String(decoding: data, as: UTF8.self))
    }
}
