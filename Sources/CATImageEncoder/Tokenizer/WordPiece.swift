/// The `WordPiece` model of Hugging Face `tokenizers` (`models/wordpiece/mod.rs`): greedy longest-match-first
/// over the vocabulary, continuation pieces prefixed with `##`; a word longer than `maxInputCharactersPerWord`
/// scalars, or one with any part that matches nothing, becomes the single unknown token.
public struct WordPiece: Sendable {
    /// Token text to id.
    public let vocabulary: [String: Int32]
    /// The id of the unknown token (`[UNK]`).
    public let unknownTokenID: Int32
    /// Prefix of pieces that continue a word.
    public let continuingSubwordPrefix: String
    /// Longer words become `[UNK]` whole.
    public let maxInputCharactersPerWord: Int

    /// A model over `vocabulary`; `unknownToken` must be in it.
    public init(
        vocabulary: [String: Int32], unknownToken: String = "[UNK]", continuingSubwordPrefix: String = "##",
        maxInputCharactersPerWord: Int = 100
    ) throws(TokenizerError) {
        guard let unknown = vocabulary[unknownToken] else {
            throw TokenizerError("the vocabulary has no unknown token \"\(unknownToken)\"")
        }
        self.vocabulary = vocabulary
        self.unknownTokenID = unknown
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.maxInputCharactersPerWord = maxInputCharactersPerWord
    }

    /// Appends the ids of one pre-tokenized word to `ids`.
    public func tokenize(word: [Unicode.Scalar], into ids: inout [Int32]) {
        if word.count > maxInputCharactersPerWord {
            ids.append(unknownTokenID)
            return
        }
        let firstNew = ids.count
        var start = 0
        while start < word.count {
            var end = word.count
            var match: Int32?
            while start < end {
                var piece = start > 0 ? continuingSubwordPrefix : ""
                piece.unicodeScalars.append(contentsOf: word[start..<end])
                if let id = vocabulary[piece] {
                    match = id
                    break
                }
                end -= 1
            }
            guard let match else {
                ids.removeSubrange(firstNew...)
                ids.append(unknownTokenID)
                return
            }
            ids.append(match)
            start = end
        }
    }
}

/// A problem loading a tokenizer, saying what and where.
public struct TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public let message: String

    /// An error with `message`.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
