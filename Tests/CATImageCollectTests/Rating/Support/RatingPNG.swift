import CATImageTestSupport

/// Real PNG files for fixture collections: a solid colour with a darker square, so every image differs (and so its
/// SHA-256 name) and a screenshot shows them apart.
enum RatingPNG {
    /// An RGB PNG of `size`×`size` pixels, zlib-wrapped with stored (uncompressed) deflate blocks.
    static func image(size: Int, red: UInt8, green: UInt8, blue: UInt8) -> [UInt8] {
        var raw: [UInt8] = []
        raw.reserveCapacity(size * (size * 3 + 1))
        for y in 0..<size {
            raw.append(0)  // filter: none
            for x in 0..<size {
                let inner = (size / 4..<size * 3 / 4).contains(x) && (size / 4..<size * 3 / 4).contains(y)
                raw += inner ? [red / 2, green / 2, blue / 2] : [red, green, blue]
            }
        }
        return PNGBytes.rgb(width: size, height: size, scanlines: raw)
    }
}
