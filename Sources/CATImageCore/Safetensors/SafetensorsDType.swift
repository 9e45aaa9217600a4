/// The element types the safetensors format defines, with their sizes in bytes.
///
/// The reader accepts every one of them in a header (so real checkpoints holding, say, `I64` position ids load),
/// but converts only the floating-point ones `F32`, `F16` and `BF16` (and `F64`) to Float32.
public enum SafetensorsDType: String, Sendable, CaseIterable, Codable {
    case bool = "BOOL"
    case u8 = "U8"
    case i8 = "I8"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .bool, .u8, .i8: 1
        case .i16, .u16, .f16, .bf16: 2
        case .i32, .u32, .f32: 4
        case .f64, .i64, .u64: 8
        }
    }

    /// Whether `SafetensorsFile.tensor(named:)` can convert this type to Float32.
    public var convertsToFloat: Bool {
        switch self {
        case .f16, .bf16, .f32, .f64: true
        default: false
        }
    }
}

/// Bit-level conversions of the 16-bit float formats, written out so they behave the same on every platform
/// (Swift's `Float16` is missing on some).
enum HalfPrecision {
    /// IEEE 754 binary16 bits to Float32, exact (subnormals, infinities and NaN included).
    @inline(__always)
    static func floatFromF16(_ bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x03FF)
        switch exponent {
        case 0:
            // Zero or subnormal: mantissa · 2^-24, exact in Float32.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 0x1F:
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        default:
            return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
        }
    }

    /// bfloat16 bits to Float32: the high half of a Float32.
    @inline(__always)
    static func floatFromBF16(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Float32 to IEEE binary16 bits, rounding to nearest even (for writing test fixtures and half files).
    static func f16(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        if value.isNaN { return sign | 0x7E00 }
        let magnitude = abs(value)
        if magnitude >= 65520 { return sign | 0x7C00 }
        if magnitude < 0x1p-14 {
            // Subnormal range: round magnitude / 2^-24 to an integer, ties to even.
            let scaled = (magnitude * 0x1p24).rounded(.toNearestOrEven)
            return sign | UInt16(scaled)
        }
        let exponent = Int((bits >> 23) & 0xFF) - 127 + 15
        var mantissa = bits & 0x7F_FFFF
        var half = UInt32(exponent) << 10
        let rest = mantissa & 0x1FFF
        mantissa >>= 13
        half |= mantissa
        if rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1) { half += 1 }
        return sign | UInt16(half)
    }

    /// Float32 to bfloat16 bits, rounding to nearest even.
    static func bf16(from value: Float) -> UInt16 {
        if value.isNaN { return UInt16(value.bitPattern >> 16) | 0x0040 }
        let bits = value.bitPattern
        let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }
}
