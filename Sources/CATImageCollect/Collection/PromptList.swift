import CATImageCore
import Foundation

/// One prompt to render, with its id and its 0-based position in the prompts file.
public struct CollectionPrompt: Sendable, Equatable, Codable {
    public var id: String
    public var position: Int
    public var text: String

    public init(id: String, position: Int, text: String) {
        self.id = id
        self.position = position
        self.text = text
    }
}

/// The prompts of a prompts file: text lines, JSON lines with `prompt` (and optional `id`), or a CSV column.
public struct PromptList: Sendable, Equatable {
    /// The prompts, in file order; positions are 0-based over the prompts kept.
    public var prompts: [CollectionPrompt]
    /// Blank lines (text and JSON lines files) that were skipped, by 1-based line number.
    public var skippedBlankLines: [Int]

    /// The formats a prompts file may have.
    public enum Format: String, Sendable {
        case lines, jsonLines, csv

        /// `.jsonl` is JSON lines, `.csv` a CSV table, anything else one prompt per line.
        public init(path: String) {
            switch (path as NSString).pathExtension.lowercased() {
            case "jsonl", "ndjson": self = .jsonLines
            case "csv": self = .csv
            default: self = .lines
            }
        }
    }

    /// Reads a prompts file. Ids come from JSON `id`, the CSV id column (`idColumn`, else a column named `id`
    /// when there is one) or `p<position>`.
    ///
    /// - Parameter column: the CSV column holding the prompt text (CSV files only).
    public static func load(
        contentsOf path: String, column: String? = nil, idColumn: String? = nil
    ) throws(CollectionError) -> PromptList {
        let format = Format(path: path)
        if format != .csv, column != nil || idColumn != nil {
            throw CollectionError(
                .invalidOption, file: path, "a prompt or id column applies only to a .csv prompts file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw CollectionError(.unreadablePrompts, file: path, exists ? "cannot read the file" : "no such file")
        }
        var list: PromptList
        switch format {
        case .csv: list = try csv(bytes: [UInt8](data), path: path, column: column ?? "prompt", idColumn: idColumn)
        case .lines, .jsonLines: list = try lines(bytes: [UInt8](data), path: path, json: format == .jsonLines)
        }
        guard !list.prompts.isEmpty else {
            throw CollectionError(.noPrompts, file: path, "the prompts file holds no prompt")
        }
        var seen: [String: Int] = [:]
        for prompt in list.prompts {
            if let earlier = seen[prompt.id] {
                throw CollectionError(
                    .invalidPrompt, file: path, value: prompt.id,
                    "prompt id used twice (prompts \(earlier + 1) and \(prompt.position + 1))")
            }
            seen[prompt.id] = prompt.position
        }
        list.prompts.sort { $0.position < $1.position }
        return list
    }

    private static func lines(bytes: [UInt8], path: String, json: Bool) throws(CollectionError) -> PromptList {
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        var prompts: [CollectionPrompt] = []
        var blank: [Int] = []
        let pieces = body.split(separator: 0x0A, omittingEmptySubsequences: false)
        for (index, rawLine) in pieces.enumerated() {
            let lineNumber = index + 1
            var lineBytes = rawLine
            if lineBytes.last == 0x0D { lineBytes = lineBytes.dropLast() }
            guard let line = String(validating: lineBytes, as: UTF8.self) else {
                throw CollectionError(.invalidUTF8, file: path, line: lineNumber, "the line is not valid UTF-8")
            }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty {
                // The empty piece after a final newline is not a blank line of the file.
                if index < pieces.count - 1 || !line.isEmpty {
                    blank.append(lineNumber)
                }
                continue
            }
            let position = prompts.count
            if json {
                prompts.append(try jsonPrompt(trimmed, path: path, line: lineNumber, position: position))
            } else {
                prompts.append(CollectionPrompt(id: "p\(position)", position: position, text: trimmed))
            }
        }
        return PromptList(prompts: prompts, skippedBlankLines: blank)
    }

    private static func jsonPrompt(
        _ line: String, path: String, line lineNumber: Int, position: Int
    ) throws(CollectionError) -> CollectionPrompt {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
            throw CollectionError(
                .invalidPrompt, file: path, line: lineNumber, value: line, "expected a JSON object per line")
        }
        guard let text = object["prompt"] as? String else {
            throw CollectionError(
                .invalidPrompt, file: path, line: lineNumber, value: line, "no \"prompt\" text in the object")
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else {
            throw CollectionError(.invalidPrompt, file: path, line: lineNumber, "the \"prompt\" text is empty")
        }
        var id = "p\(position)"
        if let given = object["id"] {
            if let text = given as? String, !text.isEmpty {
                id = text
            } else if let number = given as? NSNumber, !(given is Bool) {
                id = number.stringValue
            } else {
                throw CollectionError(
                    .invalidPrompt, file: path, line: lineNumber, value: "\(given)",
                    "\"id\" must be a non-empty text or a number")
            }
        }
        return CollectionPrompt(id: id, position: position, text: trimmed)
    }

    private static func csv(
        bytes: [UInt8], path: String, column: String, idColumn: String?
    ) throws(CollectionError) -> PromptList {
        let table: CSVTable
        let textIndex: Int
        var idIndex: Int?
        do {
            table = try CSVTable(reader: CSVReader(bytes: bytes, source: path))
            textIndex = try table.columnIndex(column)
            if let idColumn {
                idIndex = try table.columnIndex(idColumn)
            } else {
                idIndex = table.header.firstIndex(of: "id")
            }
        } catch {
            let code: CollectionError.Code = error.code == .invalidUTF8 ? .invalidUTF8 : .invalidPrompt
            throw CollectionError(code, file: path, line: error.line, value: error.value, error.message)
        }
        var prompts: [CollectionPrompt] = []
        for row in table.rows {
            let text = row.fields[textIndex].trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else {
                throw CollectionError(.invalidPrompt, file: path, line: row.line, "empty prompt in column '\(column)'")
            }
            let position = prompts.count
            var id = "p\(position)"
            if let idIndex {
                id = row.fields[idIndex].trimmingCharacters(in: .whitespaces)
                guard !id.isEmpty else {
                    throw CollectionError(.invalidPrompt, file: path, line: row.line, "empty prompt id")
                }
            }
            prompts.append(CollectionPrompt(id: id, position: position, text: text))
        }
        return PromptList(prompts: prompts, skippedBlankLines: [])
    }
}
