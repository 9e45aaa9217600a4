import CATImageCollect
import Foundation
import Testing

@Suite("Prompts files: text lines, JSON lines and CSV columns")
struct PromptListTests {
    func write(_ bytes: [UInt8], name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("prompts-\(UUID().uuidString)-\(name)")
            .path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("text lines: blank lines are skipped and reported, ids are p<position>, CRLF and a BOM are read")
    func textLines() throws {
        let path = try write(Array("\u{FEFF}a red car\r\n\n  \nblue sky\n".utf8), name: "p.txt")
        let list = try PromptList.load(contentsOf: path)
        #expect(list.prompts.map(\.text) == ["a red car", "blue sky"])
        #expect(list.prompts.map(\.id) == ["p0", "p1"] && list.prompts.map(\.position) == [0, 1])
        #expect(list.skippedBlankLines == [2, 3])
    }

    @Test("invalid UTF-8 is an error naming the line")
    func invalidUTF8() throws {
        let path = try write(Array("fine\nalso fine\n".utf8) + [0x62, 0xFF, 0x61, 0x0A], name: "p.txt")
        let error = #expect(throws: CollectionError.self) { try PromptList.load(contentsOf: path) }
        #expect(error?.code == .invalidUTF8 && error?.line == 3 && error?.file == path)
        let csv = try write(Array("prompt\nok\n".utf8) + [0xC3, 0x28, 0x0A], name: "p.csv")
        let csvError = #expect(throws: CollectionError.self) { try PromptList.load(contentsOf: csv) }
        #expect(csvError?.code == .invalidUTF8 && csvError?.line == 3)
    }

    @Test("JSON lines take prompt and id; a line without prompt or with an empty one is an error naming it")
    func jsonLines() throws {
        let good = try write(
            Array(#"{"prompt": "a cat", "id": "cat-1"}\#n{"prompt": "a dog", "id": 7}\#n\#n{"prompt": "owl"}\#n"#.utf8),
            name: "p.jsonl")
        let list = try PromptList.load(contentsOf: good)
        #expect(list.prompts.map(\.id) == ["cat-1", "7", "p2"])
        #expect(list.skippedBlankLines == [3])
        let missing = try write(Array(#"{"prompt": "a"}\#n{"text": "b"}\#n"#.utf8), name: "p.jsonl")
        let error = #expect(throws: CollectionError.self) { try PromptList.load(contentsOf: missing) }
        #expect(error?.code == .invalidPrompt && error?.line == 2)
        let empty = try write(Array(#"{"prompt": "   "}\#n"#.utf8), name: "p.jsonl")
        #expect(throws: CollectionError.self) { try PromptList.load(contentsOf: empty) }
        let duplicate = try write(
            Array(#"{"prompt": "a", "id": "x"}\#n{"prompt": "b", "id": "x"}\#n"#.utf8), name: "p.jsonl")
        let dup = #expect(throws: CollectionError.self) { try PromptList.load(contentsOf: duplicate) }
        #expect(dup?.code == .invalidPrompt && dup?.value == "x")
    }

    @Test("a CSV column is read by name; an empty cell or a missing column is an error")
    func csvColumn() throws {
        let path = try write(Array("id,caption\nc1,\"a cat, sitting\"\nc2,a dog\n".utf8), name: "p.csv")
        let list = try PromptList.load(contentsOf: path, column: "caption")
        #expect(list.prompts.map(\.text) == ["a cat, sitting", "a dog"] && list.prompts.map(\.id) == ["c1", "c2"])
        let error = #expect(throws: CollectionError.self) { try PromptList.load(contentsOf: path, column: "prompt") }
        #expect(error?.description.contains("no column named 'prompt'") == true)
        let blank = try write(Array("prompt\na\n\"  \"\n".utf8), name: "p.csv")
        let blankError = #expect(throws: CollectionError.self) { try PromptList.load(contentsOf: blank) }
        #expect(blankError?.line == 3)
        let onlyBlank = try write(Array("\n\n".utf8), name: "p.txt")
        let none = #expect(throws: CollectionError.self) { try PromptList.load(contentsOf: onlyBlank) }
        #expect(none?.code == .noPrompts)
    }
}
