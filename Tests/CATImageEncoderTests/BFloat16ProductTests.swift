import CMiniLMKernels
import Foundation
import Testing

@testable import CATImageCore
@testable import CATImageEncoder

@Suite("The bfloat16 product (weights and activations rounded, fp32 sums) on every instruction set this CPU has")
struct BFloat16ProductTests {
    /// `x` rounded to bfloat16 (nearest, ties to even) by the safetensors reader's conversion, as a Float.
    static func rounded(_ x: Float) -> Float { HalfPrecision.floatFromBF16(HalfPrecision.bf16(from: x)) }

    /// The bfloat16 product of seeded values in [-1, 1] with a bias and a residual, on `isa`, in two calls that
    /// split the panels; and the exact sum of the rounded values (in Double) plus bias and residual.
    static func product(m: Int, n: Int, k: Int, isa: catimage_isa) -> (output: [Float], exact: [Double]) {
        var generator = SeededGenerator(seed: UInt64(7 + m * 10_000 + n * 100 + k))
        let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &generator) }
        let weight = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &generator) }
        let bias = (0..<n).map { _ in Float.random(in: -1...1, using: &generator) }
        let residual = (0..<(m * n)).map { _ in Float.random(in: -1...1, using: &generator) }
        var packed = [UInt16](repeating: 0xFFFF, count: catimage_packed_bf16_count(Int32(k), Int32(n)))
        catimage_pack_bf16(weight, Int32(k), Int32(n), Int32(n), &packed)
        var output = [Float](repeating: .nan, count: m * n)
        let panels = Int32((n + 15) / 16)
        for (begin, end) in [(0, panels / 2), (panels / 2, panels)] {
            catimage_gemm_packed_bf16(
                isa, Int32(m), Int32(n), Int32(k), a, Int32(k), packed, Int32(begin), Int32(end), bias, residual,
                Int32(n), &output, Int32(n), 0, 1)
        }
        var exact = [Double](repeating: 0, count: m * n)
        for r in 0..<m {
            for j in 0..<n {
                var sum = Double(bias[j]) + Double(residual[r * n + j])
                for i in 0..<k { sum += Double(rounded(a[r * k + i])) * Double(rounded(weight[i * n + j])) }
                exact[r * n + j] = sum
            }
        }
        return (output, exact)
    }

    @Test(
        "odd K (a zero-padded last pair), ragged N and M past one 96-row chunk: within 1e-5 relative of the exact sum of the rounded values",
        arguments: [1, 12, 13, 100], [1, 37, 384])
    func matchesExactSumOfRoundedValues(m: Int, k: Int) {
        for n in [5, 40, 1152] where m * n * k <= 12 * 1152 * 384 {
            for isa in SmallProductTests.instructionSets {
                let (output, exact) = Self.product(m: m, n: n, k: k, isa: isa)
                let worst = zip(output, exact).reduce(0.0) {
                    $1.0.isNaN ? .infinity : max($0, abs(Double($1.0) - $1.1) / (1 + abs($1.1)))
                }
                #expect(worst < 1e-5, "m \(m) n \(n) k \(k) isa \(isa.rawValue): \(worst)")
            }
        }
    }

    // Runs where the CPU has AVX512_BF16 (the instruction cannot run elsewhere; the FMA path is checked above).
    @Test(
        "the AVX-512 BF16 dot product and the FMA path give the same sums (within 1e-6 relative)",
        .enabled(if: MiniLM.SmallProduct.detected == CATIMAGE_ISA_AVX512_BF16, "the CPU has AVX512_BF16"))
    func dotProductEqualsFMAPath() {
        let (dot, _) = Self.product(m: 12, n: 1152, k: 384, isa: CATIMAGE_ISA_AVX512_BF16)
        let (fma, _) = Self.product(m: 12, n: 1152, k: 384, isa: CATIMAGE_ISA_AVX512)
        let worst = zip(dot, fma).reduce(Float(0)) { max($0, abs($1.0 - $1.1) / (1 + abs($1.1))) }
        #expect(worst <= 1e-6, "largest relative difference \(worst)")
    }
}
