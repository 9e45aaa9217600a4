import CATImageCore
import CMiniLMKernels
import Foundation
import Testing

@testable import CATImageEncoder

@Suite("The small-row product on packed weights against OpenBLAS, on every instruction set this CPU has")
struct SmallProductTests {
    /// Every instruction set the product can run on here: portable C always, then AVX2, AVX-512 and AVX-512 with
    /// the bfloat16 dot product if present.
    static let instructionSets = [
        CATIMAGE_ISA_PORTABLE, CATIMAGE_ISA_AVX2, CATIMAGE_ISA_AVX512, CATIMAGE_ISA_AVX512_BF16,
    ].filter {
        $0.rawValue <= MiniLM.SmallProduct.detected.rawValue
    }

    /// What the product adds to the sum: nothing, a bias, a bias and GELU, a bias and a residual, a residual that
    /// is also the output (the forward pass's in-place use), and all of bias, residual and GELU.
    enum Epilogue: CaseIterable {
        case none, bias, biasGELU, biasResidual, residualInPlace, everything
        var bias: Bool { self != .none && self != .residualInPlace }
        var residual: Bool { self == .biasResidual || self == .residualInPlace || self == .everything }
        var gelu: Bool { self == .biasGELU || self == .everything }
    }

    @Test(
        "odd shapes (M = 1, 3, 12, 17, 32; K not a multiple of 16; N not a multiple of 16) are within 5e-5 of SGEMM + epilogue",
        arguments: [1, 3, 12, 17, 32], [1, 37, 100])
    func oddShapes(m: Int, k: Int) {
        for n in [5, 40, 72] {
            for epilogue in Epilogue.allCases {
                for isa in Self.instructionSets {
                    let difference = Self.largestDifference(m: m, n: n, k: k, epilogue: epilogue, isa: isa)
                    #expect(difference < 5e-5, "m \(m) n \(n) k \(k) \(epilogue) isa \(isa.rawValue): \(difference)")
                }
            }
        }
    }

    @Test("the product split into runs of panels equals the product in one call")
    func splitEqualsWhole() {
        var generator = SeededGenerator(seed: 11)
        let (m, n, k) = (12, 1152, 384)
        let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &generator) }
        let weight = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &generator) }
        let bias = (0..<n).map { _ in Float.random(in: -1...1, using: &generator) }
        var packed = [Float](repeating: .nan, count: catimage_packed_count(Int32(k), Int32(n)))
        catimage_pack(weight, Int32(k), Int32(n), Int32(n), &packed)
        for isa in Self.instructionSets {
            var whole = [Float](repeating: 0, count: m * n)
            var split = [Float](repeating: 0, count: m * n)
            catimage_gemm_packed(
                isa, Int32(m), Int32(n), Int32(k), a, Int32(k), packed, 0, 72, bias, nil, 0, &whole,
                Int32(n), 1)
            for (begin, end) in [(0, 30), (30, 31), (31, 72)] {
                catimage_gemm_packed(
                    isa, Int32(m), Int32(n), Int32(k), a, Int32(k), packed, Int32(begin), Int32(end), bias, nil, 0,
                    &split, Int32(n), 1)
            }
            #expect(whole == split, "isa \(isa.rawValue)")
        }
    }

    /// Largest absolute difference between the packed product and `SGEMM` followed by bias, residual and GELU
    /// (``Kernels/gelu(_:count:)``) on seeded values in [-1, 1].
    static func largestDifference(m: Int, n: Int, k: Int, epilogue: Epilogue, isa: catimage_isa) -> Float {
        var generator = SeededGenerator(seed: UInt64(m * 10_000 + n * 100 + k))
        let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &generator) }
        let weight = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &generator) }
        let bias = (0..<n).map { _ in Float.random(in: -1...1, using: &generator) }
        let residual = (0..<(m * n)).map { _ in Float.random(in: -1...1, using: &generator) }

        var expected = [Float](repeating: 0, count: m * n)
        BLAS.sgemm(
            transposeA: false, transposeB: false, m: m, n: n, k: k, a: a, lda: k, b: weight, ldb: n, c: &expected,
            ldc: n)
        for r in 0..<m {
            for j in 0..<n {
                if epilogue.bias { expected[r * n + j] += bias[j] }
                if epilogue.residual { expected[r * n + j] += residual[r * n + j] }
            }
        }
        if epilogue.gelu { expected.withUnsafeMutableBufferPointer { Kernels.gelu($0.baseAddress!, count: m * n) } }

        var packed = [Float](repeating: .nan, count: catimage_packed_count(Int32(k), Int32(n)))
        catimage_pack(weight, Int32(k), Int32(n), Int32(n), &packed)
        // Output starts as NaN (or as the residual when it is updated in place): any element not written shows.
        var output = epilogue == .residualInPlace ? residual : [Float](repeating: .nan, count: m * n)
        let panels = Int32((n + 15) / 16)
        if epilogue == .residualInPlace {
            output.withUnsafeMutableBufferPointer { out in
                catimage_gemm_packed(
                    isa, Int32(m), Int32(n), Int32(k), a, Int32(k), packed, 0, panels, nil, out.baseAddress,
                    Int32(n), out.baseAddress, Int32(n), 0)
            }
        } else {
            catimage_gemm_packed(
                isa, Int32(m), Int32(n), Int32(k), a, Int32(k), packed, 0, panels, epilogue.bias ? bias : nil,
                epilogue.residual ? residual : nil, Int32(n), &output, Int32(n), epilogue.gelu ? 1 : 0)
        }
        // An element left unwritten (NaN) counts as an infinite difference.
        return zip(output, expected).reduce(0) { $1.0.isNaN ? .infinity : max($0, abs($1.0 - $1.1)) }
    }
}
