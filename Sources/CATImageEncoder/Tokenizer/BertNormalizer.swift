import Foundation

/// The `BertNormalizer` of Hugging Face `tokenizers` (`normalizers/bert.rs`), applied scalar by scalar.
///
/// In order: clean text (drop U+0000, U+FFFD and control/format/unassigned/private-use scalars; map every
/// whitespace scalar to a space), put spaces around CJK ideographs, strip accents (NFD, then drop non-spacing
/// marks), lowercase. `strip_accents: null` means "same as lowercase", as in the reference.
public struct BertNormalizer: Sendable, Equatable {
    /// Drop control characters and turn whitespace into spaces.
    public var cleanText: Bool
    /// Put spaces around CJK ideographs so each becomes its own word.
    public var handleChineseCharacters: Bool
    /// Decompose (NFD) and drop non-spacing marks.
    public var stripAccents: Bool
    /// Map each scalar to its full lowercase mapping.
    public var lowercase: Bool

    /// A normalizer with the given stages; `stripAccents` nil follows `lowercase`, as in the reference.
    public init(
        cleanText: Bool = true, handleChineseCharacters: Bool = true, stripAccents: Bool? = nil,
        lowercase: Bool = true
    ) {
        self.cleanText = cleanText
        self.handleChineseCharacters = handleChineseCharacters
        self.stripAccents = stripAccents ?? lowercase
        self.lowercase = lowercase
    }

    /// The normalized text as Unicode scalars.
    public func normalize(_ text: String) -> [Unicode.Scalar] {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            if cleanText {
                if scalar.value == 0 || scalar.value == 0xFFFD || Self.isControl(scalar) { continue }
                if Self.isWhitespace(scalar) {
                    scalars.append(" ")
                    continue
                }
            }
            if handleChineseCharacters && Self.isChineseCharacter(scalar) {
                scalars.append(" ")
                scalars.append(scalar)
                scalars.append(" ")
            } else {
                scalars.append(scalar)
            }
        }
        if stripAccents && scalars.contains(where: { !$0.isASCII }) {
            var decomposed = String.UnicodeScalarView()
            decomposed.append(contentsOf: scalars)
            // NFD of the whole text, as `NormalizedString::nfd` does.
            let nfd = String(decomposed).decomposedStringWithCanonicalMappingScalars
            scalars = nfd.filter { $0.properties.generalCategory != .nonspacingMark }
        }
        if lowercase {
            var lowered: [Unicode.Scalar] = []
            lowered.reserveCapacity(scalars.count)
            for scalar in scalars {
                if scalar.isASCII {
                    let value = scalar.value
                    lowered.append((65...90).contains(value) ? Unicode.Scalar(UInt8(value + 32)) : scalar)
                } else if scalar.properties.changesWhenLowercased {
                    // Rust's `char::to_lowercase`: the full, context-free mapping (may be several scalars).
                    lowered.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
                } else {
                    lowered.append(scalar)
                }
            }
            scalars = lowered
        }
        return scalars
    }

    /// `\t`, `\n`, `\r` and every scalar with the Unicode White_Space property (Rust's `char::is_whitespace`).
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "\t", "\n", "\r", " ": return true
        default: return !scalar.isASCII && scalar.properties.isWhitespace
        }
    }

    /// Categories Cc, Cf, Cn, Co and Cs, except tab, newline and carriage return (`is_control` in the reference).
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "\t", "\n", "\r": return false
        default:
            if scalar.isASCII { return scalar.value < 0x20 || scalar.value == 0x7F }
            switch scalar.properties.generalCategory {
            case .control, .format, .unassigned, .privateUse, .surrogate: return true
            default: return false
            }
        }
    }

    /// The CJK Unified Ideograph blocks the reference treats as Chinese characters.
    static func isChineseCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
            0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }
}

extension String {
    /// The canonical decomposition (NFD) as scalars.
    fileprivate var decomposedStringWithCanonicalMappingScalars: [Unicode.Scalar] {
        Array(decomposedStringWithCanonicalMapping.unicodeScalars)
    }
}
