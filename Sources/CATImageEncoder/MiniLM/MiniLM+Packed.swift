import CATImageCore
import CMiniLMKernels
import Foundation

extension MiniLM {
    /// The arithmetic of the encoder's dense products.
    public enum Precision: String, Sendable, CaseIterable {
        /// fp32 weights and activations: within 1e-5 of sentence-transformers (the default).
        case fp32
        /// Weights and activations rounded to bfloat16, products summed in fp32: on CPUs with AVX512_BF16 the
        /// dot-product instruction does twice the multiply-adds of an fp32 FMA, and the weights take half the bytes.
        /// Embeddings keep cosine ≥ 0.9999 to the fp32 ones (the golden tests check all 64 prompts), not 1e-5.
        case bf16

        /// The environment variable that sets the precision of encoders loaded without an explicit one.
        public static let environmentVariable = "CATIMAGE_ENCODER_PRECISION"

        /// `$CATIMAGE_ENCODER_PRECISION` (`fp32` or `bf16`; unset or empty: fp32).
        public static func fromEnvironment(
            _ environment: [String: String] = ProcessInfo.processInfo.environment
        ) throws(EncoderError) -> Precision {
            guard let text = environment[environmentVariable], !text.isEmpty else { return .fp32 }
            guard let precision = Precision(rawValue: text.lowercased()) else {
                throw EncoderError(
                    .invalidConfiguration, file: environmentVariable,
                    "\(environmentVariable)=\(text) is not a precision (use fp32 or bf16)")
            }
            return precision
        }
    }

    /// A dense layer's weight packed once, at load, into the panel layout the small-row kernel reads
    /// (`catimage_pack`: 16-column panels, each a contiguous run of `inputs · 16` floats), so that no call packs it
    /// again (OpenBLAS packs the whole weight on every call). `bfloat16Panels`, when the model was loaded with
    /// them, hold the same weights rounded to bfloat16 in the pair layout of the bfloat16 dot product
    /// (`catimage_pack_bf16`).
    struct PackedLinear {
        /// fp32 panels, when the model packed them.
        let panels: UnsafePointer<Float>?
        let bfloat16Panels: UnsafePointer<UInt16>?
        let bias: UnsafePointer<Float>
        let inputs: Int
        let outputs: Int

        var panelCount: Int { (outputs + Int(CATIMAGE_PANEL_WIDTH) - 1) / Int(CATIMAGE_PANEL_WIDTH) }
    }

    /// One encoder layer's four products, packed.
    struct PackedLayer {
        /// Query, key and value side by side (`[H, 3H]`).
        let queryKeyValue: PackedLinear
        let attentionOutput: PackedLinear
        let intermediate: PackedLinear
        let output: PackedLinear
    }

    /// The packed copies of every layer's weights (fp32, bfloat16, or both), in one 64-byte aligned allocation.
    final class PackedWeights: @unchecked Sendable {
        // Safe to share: written once in `init`, only read afterwards; lives as long as the model that holds it.

        let layers: [PackedLayer]
        /// Whether every layer has ``PackedLinear/panels``.
        let hasFloat32: Bool
        /// Whether every layer has ``PackedLinear/bfloat16Panels``.
        let hasBFloat16: Bool
        private let storage: UnsafeMutableRawPointer

        init(_ layers: [Layer], float32: Bool, bfloat16: Bool) {
            let linears = layers.flatMap {
                [$0.attention.selfAttention.fused, $0.attention.output.dense, $0.intermediate, $0.output.dense]
            }
            let counts = linears.map { catimage_packed_count(Int32($0.inputs), Int32($0.outputs)) }
            let halfCounts = linears.map { catimage_packed_bf16_count(Int32($0.inputs), Int32($0.outputs)) }
            let floats = float32 ? counts.reduce(0, +) : 0
            // fp32 panels, then the bfloat16 panels.
            let halves = bfloat16 ? halfCounts.reduce(0, +) : 0
            let byteCount = floats * MemoryLayout<Float>.stride + halves * MemoryLayout<UInt16>.stride
            storage = .allocate(byteCount: max(64, byteCount), alignment: 64)
            var cursor = float32 ? storage.bindMemory(to: Float.self, capacity: floats) : nil
            var halfCursor =
                bfloat16
                ? (storage + floats * MemoryLayout<Float>.stride).bindMemory(to: UInt16.self, capacity: halves) : nil
            var packed: [PackedLinear] = []
            for ((linear, count), halfCount) in zip(zip(linears, counts), halfCounts) {
                let (k, n, ldw) = (Int32(linear.inputs), Int32(linear.outputs), Int32(linear.leadingDimension))
                if let cursor { catimage_pack(linear.transposedWeight, k, n, ldw, cursor) }
                if let half = halfCursor { catimage_pack_bf16(linear.transposedWeight, k, n, ldw, half) }
                packed.append(
                    PackedLinear(
                        panels: cursor.map { UnsafePointer($0) }, bfloat16Panels: halfCursor.map { UnsafePointer($0) },
                        bias: linear.bias, inputs: linear.inputs, outputs: linear.outputs))
                cursor = cursor.map { $0 + count }
                halfCursor = halfCursor.map { $0 + halfCount }
            }
            hasFloat32 = float32
            hasBFloat16 = bfloat16
            self.layers = stride(from: 0, to: packed.count, by: 4).map {
                PackedLayer(
                    queryKeyValue: packed[$0], attentionOutput: packed[$0 + 1], intermediate: packed[$0 + 2],
                    output: packed[$0 + 3])
            }
        }

        deinit { storage.deallocate() }
    }

    /// How the forward pass multiplies by the dense weights.
    enum ProductKernel: Sendable, Equatable {
        /// OpenBLAS SGEMM on the transposed weights, whatever the row count.
        case blas
        /// The small-row kernel on `isa` for products of at most ``SmallProduct/maximumRows`` rows (OpenBLAS
        /// above) in fp32; or, if `bfloat16` and the model packed bfloat16 weights, bfloat16 weights and
        /// activations on every product whatever its rows (so that a prompt's embedding does not depend on its
        /// batch).
        case packed(catimage_isa, bfloat16: Bool)
    }

    /// The small-row product on packed weights (`CMiniLMKernels`): which instruction set it runs on and when the
    /// forward pass uses it.
    enum SmallProduct {
        /// Products of at most this many rows (a few prompts' tokens) use the packed kernel; larger ones OpenBLAS,
        /// whose per-call packing is then small next to the arithmetic.
        static let maximumRows = 32

        /// The instruction set of this CPU: AVX-512 (F/BW/VL + FMA, with or without the bfloat16 dot product),
        /// AVX2 + FMA, or portable C.
        static let detected = catimage_detected_isa()

        /// What the forward pass runs on at `precision`: the small-row kernel on ``detected``.
        ///
        /// For side-by-side comparisons, `CATIMAGE_ENCODER_KERNEL` asks for less: `avx512` (no bfloat16 dot
        /// product: bf16 sums by FMA), `avx2`, `portable`, or `blas` (OpenBLAS on every product, the path before the
        /// packed kernel; fp32 whatever the precision).
        static func kernel(
            for precision: Precision, environment: [String: String] = ProcessInfo.processInfo.environment
        ) -> ProductKernel {
            let bfloat16 = precision == .bf16
            func atMost(_ isa: catimage_isa) -> catimage_isa { detected.rawValue >= isa.rawValue ? isa : detected }
            switch environment["CATIMAGE_ENCODER_KERNEL"] ?? "" {
            case "blas": return .blas
            case "portable": return .packed(CATIMAGE_ISA_PORTABLE, bfloat16: bfloat16)
            case "avx2": return .packed(atMost(CATIMAGE_ISA_AVX2), bfloat16: bfloat16)
            case "avx512": return .packed(atMost(CATIMAGE_ISA_AVX512), bfloat16: bfloat16)
            default: return .packed(detected, bfloat16: bfloat16)
            }
        }

        /// `c[r, j] = act(Σᵢ a[r, i] · Wᵀ[i, j] + bias[j] + residual[r, j])` for `rows` rows, the columns split into
        /// `ways` runs of whole panel pairs that run at once on the ``SpinningHelpers``. Every element is the same
        /// sum whatever the split. `residual` may be `c` itself.
        static func run(
            isa: catimage_isa, bfloat16: Bool, rows: Int, _ weight: PackedLinear, a: UnsafePointer<Float>, lda: Int,
            residual: UnsafePointer<Float>?, ldr: Int, c: UnsafeMutablePointer<Float>, ldc: Int, gelu: Bool,
            ways: Int
        ) {
            let pairs = (weight.panelCount + 1) / 2
            let parts = max(1, min(ways, pairs / 4))
            let operands = PackedOperands(a: a, weight: weight, residual: residual, c: c)
            let body = { @Sendable (part: Int) in
                let (m, n, k) = (Int32(rows), Int32(operands.weight.outputs), Int32(operands.weight.inputs))
                let (begin, end) = (Int32(part * pairs / parts * 2), Int32((part + 1) * pairs / parts * 2))
                if bfloat16, let halves = operands.weight.bfloat16Panels {
                    catimage_gemm_packed_bf16(
                        isa, m, n, k, operands.a, Int32(lda), halves, begin, end, operands.weight.bias,
                        operands.residual, Int32(ldr), operands.c, Int32(ldc), gelu ? 1 : 0, 1)
                } else if let panels = operands.weight.panels {
                    catimage_gemm_packed(
                        isa, m, n, k, operands.a, Int32(lda), panels, begin, end, operands.weight.bias,
                        operands.residual, Int32(ldr), operands.c, Int32(ldc), gelu ? 1 : 0)
                } else {
                    preconditionFailure("the model packed no fp32 weights; the forward pass checks before calling")
                }
            }
            guard parts > 1 else {
                body(0)
                return
            }
            SpinningHelpers.shared.run(parts: parts, body)
        }
    }
}

/// The buffers of one split packed product, shared by the threads that each write their own columns of `c`.
private struct PackedOperands: @unchecked Sendable {
    let a: UnsafePointer<Float>
    let weight: MiniLM.PackedLinear
    let residual: UnsafePointer<Float>?
    let c: UnsafeMutablePointer<Float>
}
