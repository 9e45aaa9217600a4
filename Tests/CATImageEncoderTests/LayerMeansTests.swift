import CATImageCore
import Foundation
import Testing

@testable import CATImageEncoder

/// Mean-pooled earlier layers from the same forward pass as the sentence embedding (issue 15: an estimator on
/// layer 4 beside the sentence-embedding members).
@Suite("Layer means tapped from the encoder pass")
struct LayerMeansTests {
    /// `Fixtures/layer-means.json`: four golden prompts (one of them cut at 256 tokens) and the mean-pooled,
    /// L2-normalised states of layers 0 and 4 from scripts/research/minilm_layers.py, an independent numpy forward
    /// pass of all-MiniLM-L6-v2.
    struct Reference: Decodable {
        let prompts: [String]
        let layers: [String: [[Float]]]
    }

    static func reference() throws -> Reference {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/layer-means.json")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: path))
    }

    @Test(
        "layers 0 and 4 equal the numpy forward pass within 1e-5, batched or one prompt at a time", arguments: [1, 4])
    func layerMeansMatchNumpyReference(batchSize: Int) throws {
        let encoder = try Fixtures.encoder.get()
        let reference = try Self.reference()
        let encoding = encoder.encode(reference.prompts, layerMeans: [4, 0, 4], batchSize: batchSize)
        #expect(encoding.layerMeans.keys.sorted() == [0, 4])
        for (name, rows) in reference.layers {
            let layer = try #require(Int(name))
            let means = try #require(encoding.layerMeans[layer])
            #expect(means.rows == reference.prompts.count && means.columns == 384)
            for (row, expected) in rows.enumerated() {
                let difference = maxAbsoluteDifference(means.row(row), expected)
                #expect(difference <= 1e-5, "layer \(layer), prompt \(row): largest difference \(difference)")
            }
        }
        // Tapping layers does not change the embedding of the same pass.
        #expect(encoding.embeddings == encoder.encode(reference.prompts, batchSize: batchSize))
    }

    @Test("the last layer's mean is the sentence embedding (mean pooling), and layer 4 differs from it")
    func lastLayerMeanIsTheEmbedding() throws {
        let encoder = try Fixtures.encoder.get()
        let prompts = ["a red car parked in the rain", "an owl at night, oil painting"]
        let encoding = encoder.encode(prompts, layerMeans: [encoder.configuration.layerCount, 4])
        let last = try #require(encoding.layerMeans[encoder.configuration.layerCount])
        let middle = try #require(encoding.layerMeans[4])
        for row in 0..<prompts.count {
            #expect(maxAbsoluteDifference(last.row(row), encoding.embeddings.row(row)) <= 1e-6)
            #expect(maxAbsoluteDifference(middle.row(row), encoding.embeddings.row(row)) > 0.01)
        }
    }

    @Test("a layer outside the encoder is a clear error naming its range")
    func layerOutsideTheEncoderIsRejected() throws {
        let encoder = try Fixtures.encoder.get()
        do {
            try encoder.validate(layers: [4, 7])
            Issue.record("layer 7 of a 6-layer encoder was accepted")
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(error.description.contains("layer 7") && error.description.contains("0 (embeddings) to 6"))
        }
        let folder = try TemporaryFolder()
        #expect(throws: EncoderError.self) {
            _ = try EmbeddingCache(directory: folder.path).encodings(for: ["x"], encoder: encoder, layerMeans: [-1])
        }
    }

    @Test("the cache keeps each layer in its own folder and runs the encoder only for prompts missing from any")
    func cacheStoresLayersBesideEmbeddings() throws {
        let encoder = try Fixtures.encoder.get()
        let folder = try TemporaryFolder()
        let cache = EmbeddingCache(directory: folder.path)
        // Embeddings alone first: a later call that also wants layer 4 computes every prompt's layer, but stores
        // the embeddings only of the prompt that was new.
        _ = try cache.embeddings(for: ["a red car", "a blue boat"], encoder: encoder)
        let prompts = ["a blue boat", "an owl at night", "a red car"]
        let encoding = try cache.encodings(for: prompts, encoder: encoder, layerMeans: [4])
        let direct = encoder.encode(prompts, layerMeans: [4])
        #expect(maxAbsoluteDifference(encoding.embeddings.storage, direct.embeddings.storage) <= 1e-6)
        #expect(maxAbsoluteDifference(encoding.layerMeans[4]!.storage, direct.layerMeans[4]!.storage) <= 1e-6)
        #expect(try cache.count(forWeightsDigest: encoder.weightsDigest, dimension: 384) == 3)
        #expect(try cache.count(forWeightsDigest: encoder.embeddingIdentity + "-mean4", dimension: 384) == 3)
        let chunks = try FileManager.default.contentsOfDirectory(atPath: folder.file(encoder.weightsDigest))
        #expect(chunks.filter { $0.hasSuffix(".safetensors") }.count == 2)

        // Everything cached: read back exactly, nothing written.
        let again = try cache.encodings(for: prompts.reversed(), encoder: encoder, layerMeans: [4])
        #expect(again.layerMeans[4]!.row(0) == encoding.layerMeans[4]!.row(2))
        #expect(again.embeddings.row(1) == encoding.embeddings.row(1))
        let layerChunks = try FileManager.default.contentsOfDirectory(
            atPath: folder.file(encoder.weightsDigest + "-mean4"))
        #expect(layerChunks.filter { $0.hasSuffix(".safetensors") }.count == 1)
    }
}
