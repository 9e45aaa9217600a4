import Foundation

/// Real PNG files made without a compression library: 8x8 RGB pixels in one stored (uncompressed) deflate block,
/// with correct CRC-32 and Adler-32, so any PNG reader opens them.
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
        var zlib: [UInt8] = [0x78, 0x01, 0x01]
        let length = UInt16(raw.count)
        zlib += [UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)]
        zlib += raw
        zlib += bigEndian(adler32(raw))
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        png += chunk("IHDR", bigEndian(UInt32(side)) + bigEndian(UInt32(side)) + [8, 2, 0, 0, 0])
        png += chunk("IDAT", zlib)
        png += chunk("IEND", [])
        return Data(png)
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

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typeAndData = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + typeAndData + bigEndian(crc32(typeAndData))
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in bytes {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        return b << 16 | a
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
        }
        return ~crc
    }

    /// True when `bytes` is a PNG whose chunks all carry correct CRCs, from IHDR to IEND.
    static func isValidPNG(_ bytes: [UInt8]) -> Bool {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard bytes.count > 8, Array(bytes[0..<8]) == signature else { return false }
        var offset = 8
        var types: [String] = []
        while offset + 12 <= bytes.count {
            let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            guard offset + 12 + length <= bytes.count else { return false }
            let typeAndData = Array(bytes[offset + 4..<offset + 8 + length])
            let stored = bytes[offset + 8 + length..<offset + 12 + length].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard crc32(typeAndData) == stored else { return false }
            types.append(String(decoding: typeAndData[0..<4], as: UTF8.self))
            offset += 12 + length
        }
        return offset == bytes.count && types.first == "IHDR" && types.last == "IEND" && types.contains("IDAT")
    }
}
