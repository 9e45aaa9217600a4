import Foundation

/// A real PNG image (1x1, RGBA) and a checker of PNG structure: signature, chunk lengths and CRC-32s.
enum PNGFixture {
    /// A valid 1x1 PNG, as backends in the tests return it.
    static let base64 =
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

    static var bytes: [UInt8] { Array(Data(base64Encoded: base64) ?? Data()) }

    /// True when `bytes` is a PNG whose chunks all carry correct CRCs, starting with IHDR and ending with IEND.
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

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
        }
        return ~crc
    }
}
