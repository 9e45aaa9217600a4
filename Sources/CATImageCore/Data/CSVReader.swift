import Foundation

/// One parsed CSV record with the physical line it starts on (1-based), for error messages.
public struct CSVRecord: Sendable, Equatable {
    /// The line of the file where this record starts (quoted fields may span lines).
    public let line: Int
    /// The record's fields, decoded as UTF-8.
    public let fields: [String]
}

/// An RFC 4180 CSV reader: quoted fields with commas, doubled quotes and line breaks; LF or CRLF line ends;
/// UTF-8 with or without a byte-order mark. Anything else is an error naming the file, line and column.
public struct CSVReader: Sendable {
    /// The file name used in error messages.
    public let source: String
    private let bytes: [UInt8]

    /// A reader over raw bytes; `source` names them in errors.
    public init(bytes: [UInt8], source: String) {
        self.source = source
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            self.bytes = Array(bytes.dropFirst(3))
        } else {
            self.bytes = bytes
        }
    }

    /// A reader over a file's contents.
    public init(contentsOf path: String) throws(DatasetError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw DatasetError(.unreadableFile, file: path, exists ? "cannot read the file" : "no such file")
        }
        self.init(bytes: [UInt8](data), source: path)
    }

    /// Parses every record. Blank lines between records are skipped; a record with one empty field at the
    /// very end of the file (a trailing newline) is not produced.
    public func records() throws(DatasetError) -> [CSVRecord] {
        var records: [CSVRecord] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var line = 1
        var recordLine = 1
        var fieldStartLine = 1
        var column = 1  // 1-based field index within the record, for messages
        var index = 0
        let count = bytes.count
        var inQuotes = false
        var fieldWasQuoted = false
        var afterClosingQuote = false

        func finishField() throws(DatasetError) {
            guard let text = String(validating: field, as: UTF8.self) else {
                throw DatasetError(
                    .invalidUTF8, file: source, line: fieldStartLine, column: "field \(column)",
                    "field is not valid UTF-8")
            }
            fields.append(text)
            field.removeAll(keepingCapacity: true)
            fieldWasQuoted = false
            afterClosingQuote = false
            column += 1
            fieldStartLine = line
        }

        func finishRecord() {
            // A lone empty unquoted field is a blank line: skip it.
            if !(fields.count == 1 && fields[0].isEmpty) {
                records.append(CSVRecord(line: recordLine, fields: fields))
            }
            fields.removeAll(keepingCapacity: true)
            column = 1
        }

        while index < count {
            let byte = bytes[index]
            if inQuotes {
                if byte == UInt8(ascii: "\"") {
                    if index + 1 < count && bytes[index + 1] == UInt8(ascii: "\"") {
                        field.append(byte)
                        index += 2
                        continue
                    }
                    inQuotes = false
                    afterClosingQuote = true
                } else {
                    if byte == UInt8(ascii: "\n") { line += 1 }
                    field.append(byte)
                }
                index += 1
                continue
            }
            switch byte {
            case UInt8(ascii: ","):
                try finishField()
            case UInt8(ascii: "\r") where index + 1 < count && bytes[index + 1] == UInt8(ascii: "\n"):
                index += 1
                fallthrough
            case UInt8(ascii: "\n"):
                try finishField()
                finishRecord()
                line += 1
                recordLine = line
                fieldStartLine = line
            case UInt8(ascii: "\""):
                guard field.isEmpty && !fieldWasQuoted else {
                    throw DatasetError(
                        .malformedCSV, file: source, line: line, column: "field \(column)",
                        value: String(decoding: field, as: UTF8.self),
                        "a quote inside an unquoted field (quote the whole field and double inner quotes)")
                }
                inQuotes = true
                fieldWasQuoted = true
            default:
                if afterClosingQuote {
                    throw DatasetError(
                        .malformedCSV, file: source, line: line, column: "field \(column)",
                        value: String(decoding: field, as: UTF8.self),
                        "text after the closing quote of a quoted field")
                }
                field.append(byte)
            }
            index += 1
        }
        if inQuotes {
            throw DatasetError(
                .malformedCSV, file: source, line: fieldStartLine, column: "field \(column)",
                value: String(decoding: field.prefix(40), as: UTF8.self),
                "unterminated quoted field (opened on line \(fieldStartLine), file ends inside it)")
        }
        if !field.isEmpty || !fields.isEmpty || fieldWasQuoted {
            try finishField()
            finishRecord()
        }
        return records
    }
}

/// A CSV file read as a header plus rows, with columns looked up by name.
public struct CSVTable: Sendable {
    /// The file name used in error messages.
    public let source: String
    /// Column names from the first record.
    public let header: [String]
    /// Data records, each with exactly `header.count` fields.
    public let rows: [CSVRecord]

    /// Reads `path`, requiring a header and rejecting ragged rows.
    public init(contentsOf path: String) throws(DatasetError) {
        try self.init(reader: CSVReader(contentsOf: path))
    }

    /// Parses the reader's records, requiring a header and rejecting ragged rows.
    public init(reader: CSVReader) throws(DatasetError) {
        source = reader.source
        let records = try reader.records()
        guard let first = records.first else {
            throw DatasetError(.emptyDataset, file: source, "the file is empty (no header row)")
        }
        header = first.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        // A repeated name would make lookups silently take the first column: reject it, naming both positions.
        var seen: [String: Int] = [:]
        for (index, name) in header.enumerated() {
            if let earlier = seen[name] {
                throw DatasetError(
                    .duplicateColumn, file: source, line: first.line, column: name, value: name,
                    "the header names column '\(name)' twice: fields \(earlier + 1) and \(index + 1)")
            }
            seen[name] = index
        }
        for record in records.dropFirst() where record.fields.count != header.count {
            throw DatasetError(
                .raggedRow, file: source, line: record.line,
                value: record.fields.joined(separator: ",").prefix(80).description,
                "row has \(record.fields.count) fields, the header has \(header.count)")
        }
        rows = Array(records.dropFirst())
    }

    /// The index of the column named `name`, or an error listing the columns there are.
    public func columnIndex(_ name: String, role: DatasetError.ColumnRole? = nil) throws(DatasetError) -> Int {
        if let index = header.firstIndex(of: name) { return index }
        let hint = role.map { " (the \($0.rawValue) column)" } ?? ""
        throw DatasetError(
            .missingColumn, file: source, line: 1, column: name, role: role,
            "no column named '\(name)'\(hint); the header has: \(header.joined(separator: ", "))")
    }
}
