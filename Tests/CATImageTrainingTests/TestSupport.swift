import CATImageCore
import CATImageEncoder
import Foundation

@testable import CATImageTraining

/// Inputs of the tests that need the real model and data.
enum TrainingFixtures {
    /// The package root, from this file's path.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The MiniLM folder: `CATIMAGE_MODEL_DIR`, else the default cache folder that `catimage model fetch` fills.
    static var modelDirectory: String { ModelStore.defaultModelDirectory }

    /// The pretrained encoder with a 4-output head, loaded once.
    static let pretrained: Result<TrainableMiniLM<Float>, FixtureError> = {
        do {
            return .success(
                try TrainableMiniLM<Float>(
                    directory: modelDirectory, head: RegressionHeadConfig(outputCount: 4), seed: 0))
        } catch {
            return .failure(
                FixtureError(
                    "cannot load MiniLM from \(modelDirectory): \(error). Run `catimage model fetch` or set "
                        + "CATIMAGE_MODEL_DIR to a sentence-transformers folder."))
        }
    }()

    /// The first 64 prompts of CEMS (CLIP score), tokenized to at most 32 tokens, with relative standardized targets.
    static let cemsSlice: Result<[FineTuneExample], FixtureError> = {
        let folder = (DatasetLocation.directory(relativeTo: packageRoot) as NSString).appendingPathComponent("cems")
        do {
            var report = DatasetLoadReport()
            let dataset = try RoutingDataset.loadCEMS(directory: folder, metric: "clip", report: &report)
            let tokenizer = try BertTokenizer(directory: modelDirectory)
            let rows = Array(0..<64)
            let quality = dataset.qualityRows(rows)
            let scaling = TargetScaling(kind: .relative, quality: quality)
            return .success(
                rows.map { i in
                    FineTuneExample(
                        tokens: tokenizer.encode(dataset.prompts[i].text, maxLength: 32),
                        target: scaling.target(fromQuality: quality[i]))
                })
        } catch {
            return .failure(FixtureError("cannot load the CEMS slice from \(folder) (set CATIMAGE_DATASETS): \(error)"))
        }
    }()

    /// A small random Float32 model for fast determinism checks.
    static func tinyFloatModel(outputs: Int = 3) -> TrainableMiniLM<Float> {
        let config = MiniLM.Configuration(
            hiddenSize: 16, layerCount: 2, headCount: 2, intermediateSize: 32, vocabularySize: 40,
            maxPositionEmbeddings: 16)
        return TrainableMiniLM(
            layout: ParameterLayout(encoder: config, head: RegressionHeadConfig(outputCount: outputs)), seed: 1)
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
