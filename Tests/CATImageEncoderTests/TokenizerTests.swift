import Foundation
import Testing

@testable import CATImageEncoder

@Suite("BERT tokenizer stages on a small hand-made vocabulary")
struct TokenizerTests {
    static let vocabulary: [String] = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "a", "cafe", "!", "東", "京", "hello",
        "##s", "world", "$", "x",
    ]

    static func tokenizer() throws -> BertTokenizer {
        let ids = Dictionary(uniqueKeysWithValues: vocabulary.enumerated().map { ($1, Int32($0)) })
        return BertTokenizer(
            normalizer: BertNormalizer(), wordPiece: try WordPiece(vocabulary: ids),
            postProcessor: BertPostProcessor(classifierTokenID: 2, separatorTokenID: 3),
            addedTokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].map { ($0, ids[$0]!) }, paddingTokenID: 0)
    }

    static func text(_ scalars: [Unicode.Scalar]) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    @Test(
        "the normalizer cleans, spaces CJK, strips accents and lowercases",
        arguments: [
            ("Café\u{0301}", "cafe"), ("A\tB\nC\u{0000}D\u{FFFD}", "a b cd"), ("東京", " 東  京 "),
            ("zero\u{200B}width", "zerowidth"), ("ÅNGSTRÖM", "angstrom"), ("soft\u{00AD}hyphen", "softhyphen"),
        ])
    func normalizer(input: String, expected: String) {
        #expect(Self.text(BertNormalizer().normalize(input)) == expected)
    }

    @Test("the pre-tokenizer splits on whitespace and isolates punctuation, ASCII symbols included")
    func preTokenizer() {
        let words = BertPreTokenizer().split(Array("don't  stop-now $5 ok…".unicodeScalars)).map(Self.text)
        #expect(words == ["don", "'", "t", "stop", "-", "now", "$", "5", "ok", "…"])
    }

    @Test("WordPiece takes the longest match first and continues with ## pieces")
    func wordPiece() throws {
        let tokenizer = try Self.tokenizer()
        #expect(tokenizer.tokenIDs("unaffable") == [5, 6, 7])
        #expect(tokenizer.tokenIDs("hellos world!") == [13, 14, 15, 10])
    }

    @Test("a word with an unmatched part, or over 100 characters, becomes a single [UNK]")
    func unknownWords() throws {
        let tokenizer = try Self.tokenizer()
        #expect(tokenizer.tokenIDs("unaffablez a") == [1, 8])
        #expect(tokenizer.tokenIDs(String(repeating: "x", count: 100)) == [1])
        #expect(tokenizer.tokenIDs(String(repeating: "x", count: 101) + " a") == [1, 8])
    }

    @Test("special tokens written in the text keep their ids; [CLS] … [SEP] wraps the input")
    func specialTokensAndTemplate() throws {
        let tokenizer = try Self.tokenizer()
        #expect(tokenizer.tokenIDs("a[MASK]hello") == [8, 4, 13])
        #expect(tokenizer.encode("a cafe", maxLength: 10) == [2, 8, 9, 3])
        #expect(tokenizer.encode("", maxLength: 10) == [2, 3])
    }

    @Test("truncation keeps [SEP] and the first maxLength − 2 tokens")
    func truncation() throws {
        let tokenizer = try Self.tokenizer()
        #expect(tokenizer.encode("a a a a a a", maxLength: 5) == [2, 8, 8, 8, 3])
        #expect(tokenizer.encode("a a", maxLength: 2) == [2, 3])
    }

    @Test("a vocabulary without the unknown token is rejected")
    func missingUnknownToken() {
        #expect(throws: TokenizerError.self) { try WordPiece(vocabulary: ["a": 0]) }
    }

    @Test("vocab.txt alone loads to the same ids as tokenizer.json for the golden prompts")
    func vocabularyFileMatchesTokenizerJSON() throws {
        let directory = TestPaths.modelDirectory
        let fromJSON = try BertTokenizer(tokenizerJSON: directory + "/tokenizer.json")
        let fromVocabulary = try BertTokenizer(vocabularyFile: directory + "/vocab.txt")
        for example in try Fixtures.golden.get() {
            #expect(fromVocabulary.encode(example.prompt, maxLength: 256) == example.inputIDs)
            #expect(fromJSON.encode(example.prompt, maxLength: 256) == example.inputIDs)
        }
    }
}
