/// The `BertPreTokenizer` of Hugging Face `tokenizers` (`pre_tokenizers/bert.rs`): split on whitespace (dropped)
/// and on punctuation (each punctuation scalar becomes a word of its own).
public struct BertPreTokenizer: Sendable, Equatable {
    /// A pre-tokenizer; it has no settings.
    public init() {}

    /// The words of already-normalized text.
    public func split(_ scalars: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var words: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        for scalar in scalars {
            if BertNormalizer.isWhitespace(scalar) {
                if !current.isEmpty {
                    words.append(current)
                    current.removeAll(keepingCapacity: true)
                }
            } else if Self.isPunctuation(scalar) {
                if !current.isEmpty {
                    words.append(current)
                    current.removeAll(keepingCapacity: true)
                }
                words.append([scalar])
            } else {
                current.append(scalar)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    /// ASCII punctuation (which includes symbols such as `$`, `+`, `^`, `~`) or any Unicode punctuation
    /// category Pc, Pd, Ps, Pe, Pi, Pf, Po (`is_bert_punc` in the reference).
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 {
            return (0x21...0x2F).contains(value) || (0x3A...0x40).contains(value) || (0x5B...0x60).contains(value)
                || (0x7B...0x7E).contains(value)
        }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
            .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }
}
