/// Call-free Float32 `erf` and `exp`, shared by the inference encoder and the training pass.
///
/// libm's `erff`/`expf` are a call per element, which stops LLVM from vectorising the GELU and softmax loops; these
/// polynomial forms are inlinable across modules so both loops vectorise, and training computes exactly what
/// inference computes.
public enum FastMath {
    /// `erf(x)` by the rational approximation `x · P(x²) / Q(x²)` on `[-4, 4]` (degree 13/8) that Eigen and XLA
    /// use for float32, clamped outside (where erf is ±1 in float32). Largest absolute error 4.5e-7 over
    /// [-6, 6] (checked against double-precision `erf` in the tests).
    @inlinable
    public static func erf(_ input: Float) -> Float {
        let x = min(max(input, -4), 4)
        let x2 = x * x
        var p: Float = -2.726_142_258_013_06e-10
        p = p * x2 + 2.770_681_424_959_02e-08
        p = p * x2 - 2.101_024_020_825_08e-06
        p = p * x2 - 5.692_506_394_623_46e-05
        p = p * x2 - 7.349_906_303_268_55e-04
        p = p * x2 - 2.954_599_808_540_25e-03
        p = p * x2 - 1.609_603_332_624_15e-02
        var q: Float = -1.456_607_184_649_96e-05
        q = q * x2 - 2.133_740_552_789_05e-04
        q = q * x2 - 1.682_826_974_382_03e-03
        q = q * x2 - 7.373_329_167_204_68e-03
        q = q * x2 - 1.426_473_905_141_89e-02
        return x * p / q
    }

    /// `exp(x)` (Cephes `expf`: range reduction by ln 2 and a degree-5 polynomial; within 2 ulp), input clamped
    /// to [-87.3, 88] so the result stays finite and never subnormal. Call-free so loops over it vectorise.
    @inlinable
    public static func exp(_ input: Float) -> Float {
        let x = min(max(input, -87.3), 88)
        // Round x·log2(e) to the nearest integer by the 1.5·2²³ trick (exact for |values| < 2²²).
        let shifter: Float = 12_582_912
        let n = (x * 1.442_695_040_888_963_4 + shifter) - shifter
        // x − n·ln2 in two parts for accuracy.
        var r = x - n * 0.693_359_375
        r = r + n * 2.121_944_40e-4
        var p: Float = 1.987_569_150_0e-4
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let polynomial = p * (r * r) + r + 1
        // 2^n by building the exponent bits.
        return polynomial * Float(bitPattern: UInt32(truncatingIfNeeded: Int32(n) &+ 127) &<< 23)
    }
}
