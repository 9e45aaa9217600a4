import Testing

@testable import CATImageCore

@Suite("RFC 4180 CSV reading")
struct CSVReaderTests {
    private func parse(_ text: String) throws -> [[String]] {
        try CSVReader(bytes: Array(text.utf8), source: "t.csv").records().map(\.fields)
    }

    @Test("quoted fields keep commas, doubled quotes and line breaks")
    func quotedFields() throws {
        let rows = try parse("a,b,c\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\n")
        #expect(rows == [["a", "b", "c"], ["x, y", "say \"hi\"", "two\nlines"]])
    }

    @Test("CRLF line ends are accepted and not kept in fields")
    func crlf() throws {
        #expect(try parse("a,b\r\n1,2\r\n3,4\r\n") == [["a", "b"], ["1", "2"], ["3", "4"]])
    }

    @Test("a UTF-8 byte-order mark is dropped from the first field")
    func byteOrderMark() throws {
        let reader = CSVReader(bytes: [0xEF, 0xBB, 0xBF] + Array("name,v\nx,1\n".utf8), source: "bom.csv")
        #expect(try reader.records().map(\.fields) == [["name", "v"], ["x", "1"]])
    }

    @Test("the last record needs no trailing newline, and blank lines are skipped")
    func lastLineAndBlankLines() throws {
        #expect(try parse("a,b\n\n1,2\n\n3,4") == [["a", "b"], ["1", "2"], ["3", "4"]])
    }

    @Test("empty fields and an empty quoted field are kept")
    func emptyFields() throws {
        #expect(try parse("a,,c\n\"\",x,\n") == [["a", "", "c"], ["", "x", ""]])
    }

    @Test("records report the line they start on, even after multi-line fields")
    func lineNumbers() throws {
        let records = try CSVReader(bytes: Array("h\n\"a\nb\nc\"\nz\n".utf8), source: "t.csv").records()
        #expect(records.map(\.line) == [1, 2, 5])
    }

    @Test("non-ASCII UTF-8 (accents, CJK, emoji) survives")
    func unicode() throws {
        #expect(try parse("p\ncafé 東京 🚀\n") == [["p"], ["café 東京 🚀"]])
    }

    @Test("an unterminated quote is an error naming the line where it opened")
    func unterminatedQuote() {
        #expect {
            try parse("a,b\n1,\"open\nmore\n")
        } throws: { error in
            let error = error as! DatasetError
            return error.code == .malformedCSV && error.line == 2 && error.description.contains("unterminated")
        }
    }

    @Test("invalid UTF-8 is an error naming the file, line and field")
    func invalidUTF8() {
        let bytes = Array("a,b\n1,".utf8) + [0xC3, 0x28] + Array("\n".utf8)
        #expect {
            try CSVReader(bytes: bytes, source: "bad.csv").records()
        } throws: { error in
            let error = error as! DatasetError
            return error.code == .invalidUTF8 && error.file == "bad.csv" && error.line == 2 && error.column == "field 2"
        }
    }

    @Test("a stray quote inside an unquoted field is an error, not silently kept")
    func strayQuote() {
        #expect(throws: DatasetError.self) { try parse("a\nab\"c\n") }
    }

    @Test("text after a closing quote is an error")
    func textAfterClosingQuote() {
        #expect(throws: DatasetError.self) { try parse("a\n\"ab\"c\n") }
    }

    @Test("a ragged row is an error naming its line and field counts")
    func raggedRow() {
        let path = TestSupport.temporaryFile("a,b,c\n1,2,3\n4,5\n")
        #expect {
            try CSVTable(contentsOf: path)
        } throws: { error in
            let error = error as! DatasetError
            return error.code == .raggedRow && error.line == 3 && error.message.contains("2 fields")
        }
    }

    @Test("a missing file is a clear error")
    func missingFile() {
        #expect {
            try CSVTable(contentsOf: "/nonexistent/x.csv")
        } throws: { error in
            (error as! DatasetError).description.contains("/nonexistent/x.csv: no such file")
        }
    }
}
