import Foundation

/// A BERT WordPiece tokenizer equal to the fast tokenizer of a `tokenizer.json` (normalizer, pre-tokenizer,
/// WordPiece, `[CLS] … [SEP]`), also loadable from a bare `vocab.txt` with `tokenizer_config.json` settings.
///
/// Special tokens written literally in the input (`[MASK]`, `[SEP]`, …) are matched on the raw text before
/// normalization and map to their own ids, as the reference does for added tokens with `normalized: false`.
public struct BertTokenizer: Sendable {
    /// Text normalization (clean, CJK spacing, accents, case).
    public let normalizer: BertNormalizer
    /// Whitespace and punctuation splitting.
    public let preTokenizer: BertPreTokenizer
    /// The subword model.
    public let wordPiece: WordPiece
    /// `[CLS] … [SEP]` and truncation.
    public let postProcessor: BertPostProcessor
    /// Special tokens matched literally in the raw text, longest first, with their ids.
    public let addedTokens: [(content: [Unicode.Scalar], id: Int32)]
    /// The id used to pad batches (`[PAD]`, 0 for BERT).
    public let paddingTokenID: Int32

    /// A tokenizer from its parts.
    public init(
        normalizer: BertNormalizer, wordPiece: WordPiece, postProcessor: BertPostProcessor,
        addedTokens: [(content: String, id: Int32)], paddingTokenID: Int32
    ) {
        self.normalizer = normalizer
        self.preTokenizer = BertPreTokenizer()
        self.wordPiece = wordPiece
        self.postProcessor = postProcessor
        self.addedTokens = addedTokens.filter { !$0.content.isEmpty }
            .map { (Array($0.content.unicodeScalars), $0.id) }
            .sorted { $0.content.count > $1.content.count }
        self.paddingTokenID = paddingTokenID
    }

    /// The ids of `text` without special tokens or truncation.
    public func tokenIDs(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        for segment in splitOnAddedTokens(text) {
            switch segment {
            case .added(let id):
                ids.append(id)
            case .text(let scalars):
                var string = String.UnicodeScalarView()
                string.append(contentsOf: scalars)
                let normalized = normalizer.normalize(String(string))
                for word in preTokenizer.split(normalized) { wordPiece.tokenize(word: word, into: &ids) }
            }
        }
        return ids
    }

    /// The model input for `text`: `[CLS] ids [SEP]`, at most `maxLength` ids.
    public func encode(_ text: String, maxLength: Int) -> [Int32] {
        postProcessor.process(tokenIDs(text), maxLength: maxLength)
    }

    private enum Segment {
        case text(ArraySlice<Unicode.Scalar>)
        case added(Int32)
    }

    /// The text cut around literal occurrences of added tokens (leftmost, then longest, match).
    private func splitOnAddedTokens(_ text: String) -> [Segment] {
        let scalars = Array(text.unicodeScalars)
        guard !addedTokens.isEmpty else { return [.text(scalars[...])] }
        var segments: [Segment] = []
        var segmentStart = 0
        var position = 0
        outer: while position < scalars.count {
            for token in addedTokens where token.content.first == scalars[position] {
                let end = position + token.content.count
                if end <= scalars.count && scalars[position..<end].elementsEqual(token.content) {
                    if segmentStart < position { segments.append(.text(scalars[segmentStart..<position])) }
                    segments.append(.added(token.id))
                    position = end
                    segmentStart = end
                    continue outer
                }
            }
            position += 1
        }
        if segmentStart < scalars.count { segments.append(.text(scalars[segmentStart...])) }
        return segments
    }
}

extension BertTokenizer {
    /// Loads the tokenizer of a model folder: `tokenizer.json` when present, else `vocab.txt` with the settings
    /// of `tokenizer_config.json` (defaults: lowercase, CJK spacing).
    public init(directory: String) throws(TokenizerError) {
        let json = (directory as NSString).appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: json) {
            try self.init(tokenizerJSON: json)
        } else {
            try self.init(vocabularyFile: (directory as NSString).appendingPathComponent("vocab.txt"))
        }
    }

    /// Loads a Hugging Face `tokenizer.json` whose normalizer is `BertNormalizer`, pre-tokenizer
    /// `BertPreTokenizer` and model `WordPiece`.
    public init(tokenizerJSON path: String) throws(TokenizerError) {
        let root = try Self.readJSONObject(path)
        let normalizerSpec = root["normalizer"] as? [String: Any] ?? [:]
        guard normalizerSpec["type"] as? String == "BertNormalizer" else {
            throw TokenizerError(
                "\(path): normalizer \"\(normalizerSpec["type"] as? String ?? "none")\" is not supported "
                    + "(BertNormalizer only)")
        }
        let preTokenizerType = (root["pre_tokenizer"] as? [String: Any])?["type"] as? String
        guard preTokenizerType == "BertPreTokenizer" else {
            throw TokenizerError(
                "\(path): pre_tokenizer \"\(preTokenizerType ?? "none")\" is not supported (BertPreTokenizer only)")
        }
        guard let model = root["model"] as? [String: Any], model["type"] as? String == "WordPiece",
            let rawVocabulary = model["vocab"] as? [String: Any]
        else {
            throw TokenizerError("\(path): model is not a WordPiece model with a vocab")
        }
        var vocabulary: [String: Int32] = [:]
        vocabulary.reserveCapacity(rawVocabulary.count)
        for (token, value) in rawVocabulary {
            guard let id = value as? Int, id >= 0, id <= Int(Int32.max) else {
                throw TokenizerError("\(path): vocab entry \"\(token)\" has no valid id")
            }
            vocabulary[token] = Int32(id)
        }
        let unknown = model["unk_token"] as? String ?? "[UNK]"
        let wordPiece = try WordPiece(
            vocabulary: vocabulary, unknownToken: unknown,
            continuingSubwordPrefix: model["continuing_subword_prefix"] as? String ?? "##",
            maxInputCharactersPerWord: model["max_input_chars_per_word"] as? Int ?? 100)
        let normalizer = BertNormalizer(
            cleanText: normalizerSpec["clean_text"] as? Bool ?? true,
            handleChineseCharacters: normalizerSpec["handle_chinese_chars"] as? Bool ?? true,
            stripAccents: normalizerSpec["strip_accents"] as? Bool,
            lowercase: normalizerSpec["lowercase"] as? Bool ?? true)
        var added: [(content: String, id: Int32)] = []
        for entry in root["added_tokens"] as? [[String: Any]] ?? [] {
            guard let content = entry["content"] as? String, let id = entry["id"] as? Int,
                id >= 0, id <= Int(Int32.max)
            else {
                throw TokenizerError("\(path): an added_tokens entry has no content or id")
            }
            added.append((content, Int32(id)))
        }
        try self.init(
            vocabulary: vocabulary, normalizer: normalizer, wordPiece: wordPiece, addedTokens: added, source: path)
    }

    /// Loads a `vocab.txt` (one token per line, id = line number from 0), with lowercasing and CJK settings
    /// from a `tokenizer_config.json` beside it when there is one.
    public init(vocabularyFile path: String) throws(TokenizerError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw TokenizerError("\(path): cannot read the vocabulary: \(error.localizedDescription)")
        }
        var vocabulary: [String: Int32] = [:]
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
        if lines.last == "" { lines.removeLast() }
        for (index, token) in lines.enumerated() where vocabulary[token] == nil {
            vocabulary[token] = Int32(index)
        }
        let configPath = ((path as NSString).deletingLastPathComponent as NSString)
            .appendingPathComponent("tokenizer_config.json")
        let config = FileManager.default.fileExists(atPath: configPath) ? try Self.readJSONObject(configPath) : [:]
        let lowercase = config["do_lower_case"] as? Bool ?? true
        let normalizer = BertNormalizer(
            cleanText: true, handleChineseCharacters: config["tokenize_chinese_chars"] as? Bool ?? true,
            stripAccents: config["strip_accents"] as? Bool, lowercase: lowercase)
        let unknown = config["unk_token"] as? String ?? "[UNK]"
        let wordPiece = try WordPiece(vocabulary: vocabulary, unknownToken: unknown)
        let specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].compactMap { token in
            vocabulary[token].map { (content: token, id: $0) }
        }
        try self.init(
            vocabulary: vocabulary, normalizer: normalizer, wordPiece: wordPiece, addedTokens: specials, source: path)
    }

    private init(
        vocabulary: [String: Int32], normalizer: BertNormalizer, wordPiece: WordPiece,
        addedTokens: [(content: String, id: Int32)], source: String
    ) throws(TokenizerError) {
        guard let cls = vocabulary["[CLS]"], let sep = vocabulary["[SEP]"] else {
            throw TokenizerError("\(source): the vocabulary lacks [CLS] or [SEP]")
        }
        self.init(
            normalizer: normalizer, wordPiece: wordPiece,
            postProcessor: BertPostProcessor(classifierTokenID: cls, separatorTokenID: sep),
            addedTokens: addedTokens, paddingTokenID: vocabulary["[PAD]"] ?? 0)
    }

    private static func readJSONObject(_ path: String) throws(TokenizerError) -> [String: Any] {
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw TokenizerError("\(path): not a JSON object")
            }
            return object
        } catch let error as TokenizerError {
            throw error
        } catch {
            throw TokenizerError("\(path): cannot read JSON: \(error.localizedDescription)")
        }
    }
}
