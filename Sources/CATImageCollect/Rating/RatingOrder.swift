import CATImageCore

/// The order in which a rater sees a prompt's images: shuffled, so position says nothing about the generator, and
/// fixed by the rater and the prompt, so a reload (or a server restart) shows the same order.
enum RatingOrder {
    /// `items` (in render-id order) shuffled by a Fisher–Yates pass seeded from `rater` and `promptID`.
    static func shuffled<T>(_ items: [T], rater: String, promptID: String) -> [T] {
        var generator = SeededGenerator(seed: seed(rater: rater, promptID: promptID))
        var result = items
        var index = result.count - 1
        while index > 0 {
            result.swapAt(index, generator.nextInt(below: index + 1))
            index -= 1
        }
        return result
    }

    /// 64-bit FNV-1a of the rater's and the prompt's UTF-8 bytes with a separator no name holds (a control
    /// character), so that ("ab", "c") and ("a", "bc") get different seeds.
    static func seed(rater: String, promptID: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in Array(rater.utf8) + [0x1F] + Array(promptID.utf8) {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}
