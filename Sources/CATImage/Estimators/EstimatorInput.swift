import CATImageCore

/// What an estimator reads about a batch of prompts: their texts and their frozen sentence-embedding features
/// `[N, D]`. Every estimator predicts from this one input and is fitted on a ``TrainingSet`` that carries one.
///
/// A caller may leave out a part that no estimator at hand reads (``EstimatorSpec/reads``): a router whose
/// estimator reads only texts does not run the frozen encoder, and features alone serve the feature estimators.
/// Asking for a part that was left out is a programmer's mistake and stops the program.
public struct EstimatorInput: Sendable {
    private let storedTexts: [String]?
    private let storedFeatures: Matrix?
    /// Number of prompts.
    public let count: Int

    /// An input from the prompts' texts and their features (at least one of the two).
    public init(texts: [String]?, features: Matrix?) {
        precondition(texts != nil || features != nil, "an estimator input needs texts or features")
        if let texts, let features {
            precondition(texts.count == features.rows, "\(texts.count) texts for \(features.rows) feature rows")
        }
        storedTexts = texts
        storedFeatures = features
        count = texts?.count ?? features?.rows ?? 0
    }

    /// An input of features alone.
    public init(features: Matrix) { self.init(texts: nil, features: features) }

    /// Whether the input carries the prompts' texts.
    public var hasTexts: Bool { storedTexts != nil }
    /// Whether the input carries the prompts' features.
    public var hasFeatures: Bool { storedFeatures != nil }

    /// The prompts' texts.
    public var texts: [String] {
        guard let storedTexts else { preconditionFailure("this estimator input carries no texts") }
        return storedTexts
    }

    /// The prompts' frozen features `[N, D]`.
    public var features: Matrix {
        guard let storedFeatures else { preconditionFailure("this estimator input carries no features") }
        return storedFeatures
    }

    /// The prompts at `indices`.
    public func subset(_ indices: [Int]) -> EstimatorInput {
        EstimatorInput(
            texts: storedTexts.map { all in indices.map { all[$0] } },
            features: storedFeatures.map { $0.rows(at: indices) })
    }
}

/// The parts of an ``EstimatorInput`` an estimator reads.
public struct EstimatorInputs: OptionSet, Sendable, Hashable {
    public let rawValue: Int

    public init(rawValue: Int) { self.rawValue = rawValue }

    /// The prompts' texts (estimators that run their own encoder).
    public static let texts = EstimatorInputs(rawValue: 1)
    /// The frozen sentence-embedding features.
    public static let features = EstimatorInputs(rawValue: 2)
}
