import CATImageCore
import CMiniLMKernels
import Foundation

extension MiniLM {
    /// A dense layer's weight packed once, at load, into the panel layout the small-row kernel reads
    /// (`catimage_pack`: 16-column panels, each a contiguous run of `inputs · 16` floats), so that no call packs it
    /// again (OpenBLAS packs the whole weight on every call). `bfloat16Panels`, when the model was loaded with
    /// them, hold the same panels rounded to bfloat16 (half the bytes to stream).
    struct PackedLinear {
        let panels: UnsafePointer<Float>
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

    /// The packed copies of every layer's weights (fp32, and bfloat16 if asked for), in one 64-byte aligned
    /// allocation.
    final class PackedWeights: @unchecked Sendable {
        // Safe to share: written once in `init`, only read afterwards; lives as long as the model that holds it.

        let layers: [PackedLayer]
        /// Whether every layer has ``PackedLinear/bfloat16Panels``.
        let hasBFloat16: Bool
        private let storage: UnsafeMutableRawPointer

        init(_ layers: [Layer], bfloat16: Bool) {
            let linears = layers.flatMap {
                [$0.attention.selfAttention.fused, $0.attention.output.dense, $0.intermediate, $0.output.dense]
            }
            let counts = linears.map { catimage_packed_count(Int32($0.inputs), Int32($0.outputs)) }
            let floats = counts.reduce(0, +)
            // fp32 panels, then (rounded up to whole floats) the bfloat16 panels.
            let halves = bfloat16 ? floats : 0
            let byteCount = floats * MemoryLayout<Float>.stride + halves * MemoryLayout<UInt16>.stride
            storage = .allocate(byteCount: max(64, byteCount), alignment: 64)
            var cursor = storage.bindMemory(to: Float.self, capacity: floats)
            var halfCursor =
                bfloat16
                ? (storage + floats * MemoryLayout<Float>.stride).bindMemory(to: UInt16.self, capacity: halves) : nil
            var packed: [PackedLinear] = []
            for (linear, count) in zip(linears, counts) {
                let (k, n, ldw) = (Int32(linear.inputs), Int32(linear.outputs), Int32(linear.leadingDimension))
                catimage_pack(linear.transposedWeight, k, n, ldw, cursor)
                if let half = halfCursor { catimage_pack_bf16(linear.transposedWeight, k, n, ldw, half) }
                packed.append(
                    PackedLinear(
                        panels: UnsafePointer(cursor), bfloat16Panels: halfCursor.map { UnsafePointer($0) },
                        bias: linear.bias, inputs: linear.inputs, outputs: linear.outputs))
                cursor += count
                halfCursor = halfCursor.map { $0 + count }
            }
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
        /// above), on bfloat16 weights if `bfloat16` and the model packed them, else fp32.
        case packed(catimage_isa, bfloat16: Bool)
    }

    /// The small-row product on packed weights (`CMiniLMKernels`): which instruction set it runs on and when the
    /// forward pass uses it.
    enum SmallProduct {
        /// Products of at most this many rows (a few prompts' tokens) use the packed kernel; larger ones OpenBLAS,
        /// whose per-call packing is then small next to the arithmetic.
        static let maximumRows = 32

        /// The instruction set of this CPU: AVX-512 (F/BW/VL + FMA), AVX2 + FMA, or portable C.
        static let detected = catimage_detected_isa()

        /// What the forward pass runs on by default: the small-row kernel on ``detected`` with fp32 weights.
        ///
        /// For side-by-side comparisons, `CATIMAGE_ENCODER_KERNEL` asks for less (`avx2`, `portable`, or `blas`: OpenBLAS
        /// on every product, the path before the packed kernel), and `CATIMAGE_ENCODER_WEIGHTS=bf16` opts in to
        /// bfloat16 weights (packed at load only then; cosine ≥ 0.9999 to fp32 on the golden prompts, not within
        /// 1e-5).
        static let selected: ProductKernel = {
            let environment = ProcessInfo.processInfo.environment
            let bfloat16 = requestsBFloat16
            switch environment["CATIMAGE_ENCODER_KERNEL"] ?? "" {
            case "blas": return .blas
            case "portable": return .packed(CATIMAGE_ISA_PORTABLE, bfloat16: bfloat16)
            case "avx2":
                let isa = detected.rawValue >= CATIMAGE_ISA_AVX2.rawValue ? CATIMAGE_ISA_AVX2 : detected
                return .packed(isa, bfloat16: bfloat16)
            default: return .packed(detected, bfloat16: bfloat16)
            }
        }()

        /// Whether `CATIMAGE_ENCODER_WEIGHTS=bf16` asks for bfloat16 weights (models then pack them at load).
        static let requestsBFloat16 = ProcessInfo.processInfo.environment["CATIMAGE_ENCODER_WEIGHTS"] == "bf16"

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
                        operands.residual, Int32(ldr), operands.c, Int32(ldc), gelu ? 1 : 0)
                } else {
                    catimage_gemm_packed(
                        isa, m, n, k, operands.a, Int32(lda), operands.weight.panels, begin, end,
                        operands.weight.bias, operands.residual, Int32(ldr), operands.c, Int32(ldc), gelu ? 1 : 0)
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
