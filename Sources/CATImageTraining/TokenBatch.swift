/// Token ids of several prompts padded to one length: the unit a training step or an inference pass runs on.
public struct TokenBatch: Sendable, Equatable {
    /// Number of prompts.
    public let count: Int
    /// Padded length (the longest prompt of the batch).
    public let sequenceLength: Int
    /// Ids `[count, sequenceLength]`, row-major, padding after each prompt's tokens.
    public let tokenIDs: [Int32]
    /// Real tokens of each prompt (attention and pooling ignore the rest).
    public let lengths: [Int]

    /// Pads `sequences` (each `[CLS] … [SEP]`, non-empty) with `paddingID` to `paddedLength` (default: the
    /// longest). Parts of one training batch share its padded length, so dropout masks do not depend on how the
    /// batch is split across workers.
    public init(_ sequences: [[Int32]], paddedLength: Int? = nil, paddingID: Int32 = 0) {
        precondition(!sequences.isEmpty, "a batch needs at least one prompt")
        precondition(sequences.allSatisfy { !$0.isEmpty }, "every prompt needs at least one token")
        count = sequences.count
        let longest = sequences.map(\.count).max() ?? 1
        precondition((paddedLength ?? longest) >= longest, "padded length shorter than a prompt")
        sequenceLength = paddedLength ?? longest
        lengths = sequences.map(\.count)
        var ids = [Int32](repeating: paddingID, count: count * sequenceLength)
        for (b, sequence) in sequences.enumerated() {
            for (t, id) in sequence.enumerated() { ids[b * sequenceLength + t] = id }
        }
        tokenIDs = ids
    }

    /// Number of token rows the encoder processes (`count * sequenceLength`).
    public var rowCount: Int { count * sequenceLength }
}

/// Which dropout masks a training pass draws: fixed by the seed, the step and each prompt's index, so the same
/// seed gives the same masks however a batch is split across workers.
public struct DropoutPlan: Sendable, Equatable {
    /// The training seed.
    public var seed: UInt64
    /// The optimizer step.
    public var step: Int
    /// A stable index per prompt of the batch (its index in the training set).
    public var promptIndices: [Int]

    /// A plan for one step.
    public init(seed: UInt64, step: Int, promptIndices: [Int]) {
        self.seed = seed
        self.step = step
        self.promptIndices = promptIndices
    }

    /// The seed of one prompt's masks.
    func seed(forPrompt b: Int) -> UInt64 {
        var mixer = SplitMix(seed ^ 0x5EED_D80F_0000_0000)
        _ = mixer.mix(UInt64(truncatingIfNeeded: step))
        return mixer.mix(UInt64(truncatingIfNeeded: promptIndices[b]))
    }
}

/// SplitMix64 finaliser used to derive independent seeds from (seed, step, prompt).
struct SplitMix {
    var state: UInt64
    init(_ state: UInt64) { self.state = state }
    mutating func mix(_ value: UInt64) -> UInt64 {
        state = state &+ value &+ 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        state = z ^ (z >> 31)
        return state
    }
}
