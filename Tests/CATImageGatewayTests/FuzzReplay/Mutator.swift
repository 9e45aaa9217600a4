import CATImageCore

/// Deterministic mutations of a seed input, as a fuzzer's first rounds make them: truncations, bit flips, inserted
/// and deleted bytes, repeated chunks, and numbers replaced by extreme ones. The same seed and salt give the same
/// variants on every run, so a failure names a reproducible input.
struct Mutator {
    /// Texts that break number and structure parsing.
    static let hostileTokens: [String] = [
        "1e400", "-1e400", "nan", "NaN", "inf", "-0", "99999999999999999999999", "-9223372036854775809",
        "0x7fffffff", "\u{0}", "\"", "\"\"", ",", "\n", "\r\n", "{", "}", "[", "]", ":", "'", "\\", "\u{FEFF}",
        "é", "\u{202E}", "[[[[[[[[[[[[[[[[", "{\"a\":", "~", "&anchor", "*anchor", "!!binary", "- ", "? ",
    ]

    var generator: SeededGenerator

    init(salt: UInt64) { generator = SeededGenerator(seed: 0x5EED_F022 ^ salt) }

    /// `count` variants of `seed`; mutation positions fall in `focus` (the whole input by default), where the
    /// parser's decisions are (a file's header, say).
    mutating func variants(of seed: [UInt8], count: Int, focus: Range<Int>? = nil) -> [[UInt8]] {
        var result: [[UInt8]] = [[], seed]
        let focus = focus.map { $0.clamped(to: 0..<max(seed.count, 1)) } ?? 0..<max(seed.count, 1)
        while result.count < count {
            var bytes = seed
            let rounds = Int.random(in: 1...4, using: &generator)
            for _ in 0..<rounds { mutate(&bytes, focus: focus) }
            result.append(bytes)
        }
        return result
    }

    private mutating func position(_ bytes: [UInt8], _ focus: Range<Int>) -> Int {
        let upper = min(focus.upperBound, bytes.count)
        let lower = min(focus.lowerBound, upper)
        return lower == upper ? upper : Int.random(in: lower..<upper, using: &generator)
    }

    private mutating func mutate(_ bytes: inout [UInt8], focus: Range<Int>) {
        switch Int.random(in: 0..<8, using: &generator) {
        case 0:  // truncate
            bytes = Array(bytes.prefix(position(bytes, focus)))
        case 1:  // flip a bit
            guard !bytes.isEmpty else { return }
            let at = min(position(bytes, focus), bytes.count - 1)
            bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &generator)
        case 2:  // insert random bytes
            let at = position(bytes, focus)
            let count = Int.random(in: 1...8, using: &generator)
            bytes.insert(contentsOf: (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }, at: at)
        case 3:  // delete a span
            guard !bytes.isEmpty else { return }
            let at = min(position(bytes, focus), bytes.count - 1)
            let end = min(bytes.count, at + Int.random(in: 1...16, using: &generator))
            bytes.removeSubrange(at..<end)
        case 4:  // insert a hostile token
            let token = Self.hostileTokens.randomElement(using: &generator) ?? "1e400"
            bytes.insert(contentsOf: Array(token.utf8), at: position(bytes, focus))
        case 5:  // replace a run of digits with an extreme number
            let at = position(bytes, focus)
            guard let start = bytes[min(at, bytes.count)...].firstIndex(where: { (0x30...0x39).contains($0) }) else {
                return
            }
            var end = start
            while end < bytes.count, (0x30...0x39).contains(bytes[end]) || bytes[end] == 0x2E { end += 1 }
            let replacement =
                ["1e400", "99999999999999999999999", "-1", "0", "1e-400", "4294967296"]
                .randomElement(using: &generator) ?? "0"
            bytes.replaceSubrange(start..<end, with: Array(replacement.utf8))
        case 6:  // repeat a chunk
            guard !bytes.isEmpty else { return }
            let at = min(position(bytes, focus), bytes.count - 1)
            let chunk = Array(bytes[at..<min(bytes.count, at + Int.random(in: 1...64, using: &generator))])
            let times = Int.random(in: 2...50, using: &generator)
            bytes.insert(contentsOf: Array(repeating: chunk, count: times).flatMap { $0 }, at: at)
        default:  // overwrite with an extreme byte
            guard !bytes.isEmpty else { return }
            let at = min(position(bytes, focus), bytes.count - 1)
            bytes[at] = [0x00, 0xFF, 0x7F, 0x80, 0x22, 0x2C, 0x0A].randomElement(using: &generator) ?? 0
        }
    }
}
