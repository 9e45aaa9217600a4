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
