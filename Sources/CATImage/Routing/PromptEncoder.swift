import CATImageCore

/// Turns prompts into feature rows for a router: the sentence encoder in production.
///
/// A router file records the encoder's ``modelIdentifier`` and ``weightsDigest``; loading it with another
/// encoder is refused, because the estimator's arrays only make sense in the space they were fitted in.
public protocol PromptEncoder: Sendable {
    /// A name for the model (for example `sentence-transformers/all-MiniLM-L6-v2`).
    var modelIdentifier: String { get }
    /// A digest of the weights that identifies the embedding space.
    var weightsDigest: String { get }
    /// One feature row per prompt, `[N, D]`.
    func embed(_ prompts: [String]) -> Matrix
    /// The encoder layers whose token means ``embed(_:layerMeans:)`` can tap (`nil`: none).
    var tappableLayers: ClosedRange<Int>? { get }
    /// The feature rows of `prompts` and, from the same pass, the mean-pooled, L2-normalised token states after
    /// each layer of `layerMeans` (each within ``tappableLayers``).
    func embed(_ prompts: [String], layerMeans: [Int]) -> (features: Matrix, layerMeans: [Int: Matrix])
}

extension PromptEncoder {
    public var tappableLayers: ClosedRange<Int>? { nil }

    public func embed(_ prompts: [String], layerMeans: [Int]) -> (features: Matrix, layerMeans: [Int: Matrix]) {
        precondition(layerMeans.isEmpty, "\(modelIdentifier) taps no encoder layers")
        return (embed(prompts), [:])
    }

    /// Checks that the encoder can give every part of `parts` (the layers an estimator reads).
    public func check(canGive parts: EstimatorInputs) throws {
        for layer in parts.layers where tappableLayers?.contains(layer) != true {
            throw EstimatorError(
                "the estimator reads encoder layer \(layer), but \(modelIdentifier) "
                    + (tappableLayers.map { "has layers \($0.lowerBound)...\($0.upperBound)" } ?? "taps no layers"))
        }
    }

    /// What an estimator that reads `parts` needs to know of `prompts`: their texts and, when it reads any, the
    /// features and layer means from one encoder pass (the encoder does not run for an estimator of texts alone).
    public func input(for prompts: [String], reads parts: EstimatorInputs) -> EstimatorInput {
        guard parts.runsEncoder else { return EstimatorInput(texts: prompts, features: nil) }
        let embedded = embed(prompts, layerMeans: parts.layers)
        return EstimatorInput(texts: prompts, features: embedded.features, layerMeans: embedded.layerMeans)
    }
}
