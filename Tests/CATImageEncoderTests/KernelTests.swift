import CATImageCore
import Foundation
import Testing

@testable import CATImageEncoder

@Suite("Forward-pass kernels on small hand-checked inputs")
struct KernelTests {
    @Test("erf is within 5e-7 of double-precision erf over [-6, 6]")
    func erfAccuracy() {
        var worst: Double = 0
        var x: Float = -6
        while x <= 6 {
            worst = max(worst, abs(Double(Kernels.erf(x)) - Foundation.erf(Double(x))))
            x += 0.0007
        }
        #expect(worst < 5e-7, "largest error \(worst)")
        #expect(Kernels.erf(0) == 0)
    }

    @Test("exp is within 3 ulp relative of double-precision exp over [-87, 80]")
    func expAccuracy() {
        var worst: Double = 0
        var x: Float = -87
        while x <= 80 {
            let value = Double(Kernels.exp(x))
            let reference = Foundation.exp(Double(x))
            worst = max(worst, abs(value - reference) / reference)
            x += 0.013
        }
        #expect(worst < 3 * 1.2e-7, "largest relative error \(worst)")
        #expect(Kernels.exp(-1000) >= 0 && Kernels.exp(0) == 1)
    }

    @Test("GELU of hand-computed points: 0, ±1, 3 and a tail that is not a multiple of 8")
    func gelu() {
        var values: [Float] = [0, 1, -1, 3, 0.5, -0.5, 2, -2, 1, -3, 10]
        values.withUnsafeMutableBufferPointer { Kernels.gelu($0.baseAddress!, count: $0.count) }
        let expected: [Double] = [0, 1, -1, 3, 0.5, -0.5, 2, -2, 1, -3, 10].map { x in
            0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot()))
        }
        #expect(abs(Double(values[1]) - 0.841_344_746) < 1e-6)
        for (value, reference) in zip(values, expected) { #expect(abs(Double(value) - reference) < 2e-6) }
    }

    @Test("LayerNorm of a 10-wide row equals the textbook formula, in place")
    func layerNorm() {
        var row: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 30]
        let weight: [Float] = [1, 2, 1, 2, 1, 2, 1, 2, 1, 2]
        let bias: [Float] = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
        let mean = row.reduce(0, +) / 10
        let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 10
        let expected = row.indices.map { (row[$0] - mean) / (variance + 1e-12).squareRoot() * weight[$0] + bias[$0] }
        weight.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                let norm = MiniLM.LayerNorm(weight: w.baseAddress!, bias: b.baseAddress!, count: 10, epsilon: 1e-12)
                row.withUnsafeMutableBufferPointer {
                    Kernels.layerNorm($0.baseAddress!, into: $0.baseAddress!, rows: 1, norm)
                }
            }
        }
        #expect(maxAbsoluteDifference(row, expected) < 1e-5)
    }

    @Test("softmax sums to 1 and keeps order, also for a row of 11 with a large spread")
    func softmax() {
        var row: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -50]
        row.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, count: $0.count) }
        #expect(abs(row.reduce(0, +) - 1) < 1e-6)
        let reference = (1...10).map { Foundation.exp(Double($0 - 10)) }
        let total = reference.reduce(0, +) + Foundation.exp(-60.0)
        for index in 0..<10 { #expect(abs(Double(row[index]) - reference[index] / total) < 1e-6) }
    }

    @Test("the short attention loop equals attention computed naively in double precision")
    func shortAttention() {
        var generator = SeededGenerator(seed: 3)
        let n = 5
        let size = 16
        let stride = 3 * size
        let qkv = (0..<(n * stride)).map { _ in Float.random(in: -1...1, using: &generator) }
        var context = [Float](repeating: 0, count: n * size)
        var scores = [Float](repeating: 0, count: n)
        let scale: Float = 0.25
        qkv.withUnsafeBufferPointer { input in
            context.withUnsafeMutableBufferPointer { output in
                scores.withUnsafeMutableBufferPointer { scratch in
                    let base = input.baseAddress!
                    Kernels.shortAttention(
                        query: base, key: base + size, value: base + 2 * size, inputStride: stride,
                        context: output.baseAddress!, outputStride: size, count: n, size: size, scale: scale,
                        scores: scratch.baseAddress!)
                }
            }
        }
        for i in 0..<n {
            let logits = (0..<n).map { j in
                (0..<size).reduce(0.0) { $0 + Double(qkv[i * stride + $1]) * Double(qkv[j * stride + size + $1]) }
                    * Double(scale)
            }
            let weights = logits.map { Foundation.exp($0 - logits.max()!) }
            let total = weights.reduce(0, +)
            for c in 0..<size {
                let expected = (0..<n).reduce(0.0) {
                    $0 + weights[$1] / total * Double(qkv[$1 * stride + 2 * size + c])
                }
                #expect(abs(Double(context[i * size + c]) - expected) < 1e-6)
            }
        }
    }
}
