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
}

/// An estimator whose features come from its own encoder built over the router's base encoder (the fine-tuned
/// Transformer estimator): loading a router file gives it the base encoder and uses the one it returns.
public protocol EncoderAdaptingEstimator: QualityEstimator {
    /// The encoder whose rows this estimator reads, built over `base` (the encoder the file was trained with).
    func promptEncoder(over base: any PromptEncoder) throws -> any PromptEncoder
}
