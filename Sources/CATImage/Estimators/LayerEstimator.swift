import CATImageCore

/// An estimator that reads the mean-pooled token states of an earlier encoder layer as its features
/// (``EstimatorSpec/onLayer(layer:estimator:)``).
///
/// The sentence embedding (the last layer) is what all-MiniLM-L6-v2 was trained to make similar for paraphrases;
/// an earlier layer keeps more of the wording and the objects named, which is part of what decides which generator
/// renders a prompt best. The layer comes from the same forward pass as the embedding, so a member on it costs a
/// similarity row, not a second encoder pass (README, issue 15).
public struct LayerEstimator: QualityEstimator {
    /// The encoder layer read (0 is the embedding output).
    public let layer: Int
    /// The estimator fitted on the layer's means.
    public let estimator: any QualityEstimator

    init(layer: Int, estimator: any QualityEstimator) {
        self.layer = layer
        self.estimator = estimator
    }

    public var spec: EstimatorSpec { .onLayer(layer: layer, estimator: estimator.spec) }
    public var outputCount: Int { estimator.outputCount }

    public func predict(_ input: EstimatorInput) -> [[Double]] {
        estimator.predict(input.featuresFromLayer(layer))
    }

    public func tensors() -> [String: EstimatorTensor] { estimator.tensors() }

    /// Checks that `estimator` can read a layer: a feature estimator (not one that reads texts, chooses, stacks or
    /// nests another layer), and `layer` a layer index.
    static func validate(layer: Int, estimator: EstimatorSpec) throws {
        guard (0...EstimatorInputs.maximumLayer).contains(layer) else {
            throw EstimatorError("layer must be between 0 and \(EstimatorInputs.maximumLayer), got \(layer)")
        }
        guard estimator.readsPlainFeatures else {
            throw EstimatorError(
                "only knn, kernel, ridge, krr, mlp or mean can read an encoder layer, not '\(estimator.kind)'")
        }
    }
}
