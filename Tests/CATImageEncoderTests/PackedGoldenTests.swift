import CATImageCore
import CMiniLMKernels
import Foundation
import Testing

@testable import CATImageEncoder

@Suite("Every product kernel of the forward pass against the sentence-transformers golden vectors")
struct PackedGoldenTests {
    /// The MiniLM weights loaded with bfloat16 panels too, so that every kernel can run on the same model.
    static let model: Result<MiniLM.Model, FixtureError> = {
        let directory = TestPaths.modelDirectory
        do {
            let configuration = try MiniLM.Configuration.load(
                (directory as NSString).appendingPathComponent("config.json"))
            let weights = try SafetensorsFile(
                contentsOf: (directory as NSString).appendingPathComponent("model.safetensors"))
            return .success(try MiniLM.Model(configuration: configuration, weights: weights, bfloat16Panels: true))
        } catch {
            return .failure(
                FixtureError(
                    "cannot load the MiniLM model from \(directory): \(error). Run `catimage model fetch` "
                        + "(or set CATIMAGE_MODEL_DIR to a sentence-transformers folder)."))
        }
    }()

    /// The 64 golden prompts' embeddings, each encoded alone (a served request) with `kernel`.
    static func embeddings(_ kernel: MiniLM.ProductKernel) throws -> [(GoldenExample, [Float])] {
        let model = try Self.model.get()
        let workspace = MiniLM.Workspace(configuration: model.configuration)
        let pooling = MiniLM.PoolingConfiguration(meanOver: model.configuration.hiddenSize)
        return try Fixtures.golden.get().map { example in
            let vector = [Float](unsafeUninitializedCapacity: 384) { buffer, initialized in
                model.forward(
                    [example.inputIDs], pooling: pooling, workspace: workspace, pooled: buffer.baseAddress!, ways: 2,
                    kernel: kernel)
                initialized = 384
            }
            return (example, vector)
        }
    }

    @Test(
        "fp32 packed weights on each instruction set (0 portable, 1 AVX2, 2 AVX-512, 3 AVX-512 BF16) are within 1e-5 for all 64 prompts",
        arguments: SmallProductTests.instructionSets.map(\.rawValue))
    func packedFloat32(isa: UInt32) throws {
        for (index, (example, vector)) in try Self.embeddings(.packed(catimage_isa(isa), bfloat16: false)).enumerated()
        {
            let difference = maxAbsoluteDifference(vector, example.embedding)
            #expect(difference <= GoldenTests.tolerance, "prompt \(index): largest difference \(difference)")
        }
    }

    @Test("OpenBLAS on every product (CATIMAGE_ENCODER_KERNEL=blas) is within 1e-5 for all 64 prompts")
    func blas() throws {
        for (index, (example, vector)) in try Self.embeddings(.blas).enumerated() {
            let difference = maxAbsoluteDifference(vector, example.embedding)
            #expect(difference <= GoldenTests.tolerance, "prompt \(index): largest difference \(difference)")
        }
    }

    @Test(
        "bfloat16 weights and activations keep cosine >= 0.9999 to the golden vector for all 64 prompts, on every instruction set",
        arguments: SmallProductTests.instructionSets.map(\.rawValue))
    func packedBFloat16(isa: UInt32) throws {
        var largest: Float = 0
        for (index, (example, vector)) in try Self.embeddings(.packed(catimage_isa(isa), bfloat16: true)).enumerated() {
            // Both vectors are L2-normalised, so their dot product is the cosine.
            let cosine = zip(vector, example.embedding).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            #expect(cosine >= 0.9999, "prompt \(index): cosine \(cosine)")
            largest = max(largest, maxAbsoluteDifference(vector, example.embedding))
        }
        // The bfloat16 products really are in use: fp32 stays within 1e-5, rounded values cannot everywhere.
        #expect(largest > GoldenTests.tolerance, "largest difference \(largest)")
    }

    @Test("at bfloat16 a prompt's embedding is the same alone and inside a batch of 64 (every product on one kernel)")
    func bfloat16BatchEqualsAlone() throws {
        let model = try Self.model.get()
        let kernel = MiniLM.ProductKernel.packed(MiniLM.SmallProduct.detected, bfloat16: true)
        let alone = try Self.embeddings(kernel)
        let examples = try Fixtures.golden.get()
        let workspace = MiniLM.Workspace(configuration: model.configuration)
        let pooling = MiniLM.PoolingConfiguration(meanOver: model.configuration.hiddenSize)
        let batch = [Float](unsafeUninitializedCapacity: examples.count * 384) { buffer, initialized in
            model.forward(
                examples.map(\.inputIDs), pooling: pooling, workspace: workspace, pooled: buffer.baseAddress!,
                ways: 1, kernel: kernel)
            initialized = examples.count * 384
        }
        for (index, (_, vector)) in alone.enumerated() {
            let difference = maxAbsoluteDifference(vector, Array(batch[(index * 384)..<((index + 1) * 384)]))
            #expect(difference <= 1e-6, "prompt \(index): \(difference)")
        }
    }
}
