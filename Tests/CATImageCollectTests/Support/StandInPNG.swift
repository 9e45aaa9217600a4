import CATImageTestSupport
import Foundation

/// Real 8x8 RGB PNG files whose first pixel's red channel carries the "quality" the stand-in scorer reads back.
enum StandInPNG {
    static let side = 8

    /// An 8x8 image whose first pixel's red channel is `red`; the rest varies with `variation` so that different
    /// prompts and seeds give different bytes (and content hashes).
    static func make(red: UInt8, variation: UInt64) -> Data {
        var raw: [UInt8] = []
        var state = variation | 1
        for _ in 0..<side {
            raw.append(0)  // filter: none
            for _ in 0..<side {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                raw += [red, UInt8(truncatingIfNeeded: state >> 33), UInt8(truncatingIfNeeded: state >> 41)]
            }
        }
        return Data(PNGBytes.rgb(width: side, height: side, scanlines: raw))
    }

    /// The red channel of the first pixel of an image `make` wrote; `nil` for any other bytes.
    static func firstRed(of data: Data) -> UInt8? {
        let bytes = [UInt8](data)
        guard bytes.count > 60, bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) else { return nil }
        // IHDR chunk: 8 + 12 + 13 = 33 bytes; IDAT's data starts at 33 + 8; then zlib (2) + stored header (5) + filter.
        let start = 33 + 8 + 2 + 5 + 1
        guard Array(bytes[37..<41]) == Array("IDAT".utf8), start < bytes.count else { return nil }
        return bytes[start]
    }
}
