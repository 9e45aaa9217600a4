/// PNG files written and checked without a compression library: the image data goes into stored (uncompressed)
/// deflate blocks, with correct CRC-32s and Adler-32, so any PNG reader opens what `rgb` writes.
public enum PNGBytes {
    /// The eight bytes every PNG file starts with.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// An 8-bit truecolour PNG of `width`×`height` pixels from its scanlines: per row a filter byte (0, none) and
    /// then `width` red, green, blue triples. One IHDR, one IDAT, one IEND.
    public static func rgb(width: Int, height: Int, scanlines: [UInt8]) -> [UInt8] {
        precondition(scanlines.count == height * (1 + 3 * width), "scanlines must hold height × (1 + 3 × width) bytes")
        var header = bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        header += [8, 2, 0, 0, 0]  // 8-bit depth, truecolour, deflate, no filter, no interlace
        return signature + chunk("IHDR", header) + chunk("IDAT", zlibStored(scanlines)) + chunk("IEND", [])
    }

    /// True when `bytes` is a PNG whose chunks all carry correct CRCs, starting with IHDR and ending with IEND,
    /// with at least one IDAT.
    public static func isValid(_ bytes: [UInt8]) -> Bool {
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

    /// A chunk: length, `type`, `data`, and the CRC-32 of type and data.
    public static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typeAndData = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + typeAndData + bigEndian(crc32(typeAndData))
    }

    /// A zlib stream of stored blocks (at most 65,535 bytes each, the last one marked final) and its Adler-32.
    public static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var output: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let length = min(65_535, data.count - offset)
            let isLast: UInt8 = offset + length == data.count ? 1 : 0
            output += [
                isLast, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8((~length >> 8) & 0xFF),
            ]
            output += data[offset..<offset + length]
            offset += length
        } while offset < data.count
        return output + bigEndian(adler32(data))
    }

    /// `value`'s four bytes, most significant first.
    public static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    /// zlib's Adler-32 checksum of `bytes`.
    public static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in bytes {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        return b << 16 | a
    }

    /// The CRC-32 (ISO-HDLC, as PNG and zlib use it) of `bytes`.
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
        }
        return ~crc
    }
}
