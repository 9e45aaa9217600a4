import CATImageCore

/// What an estimator reads about a batch of prompts: their texts, their frozen sentence-embedding features `[N, D]`,
/// and the mean-pooled token states of earlier encoder layers from the same pass (``layerMeans(_:)``). Every
/// estimator predicts from this one input and is fitted on a ``TrainingSet`` that carries one.
///
/// A caller may leave out a part that no estimator at hand reads (``EstimatorSpec/reads``): a router whose
/// estimator reads only texts does not run the frozen encoder, and features alone serve the feature estimators.
/// Asking for a part that was left out is a programmer's mistake and stops the program.
public struct EstimatorInput: Sendable {
    private let storedTexts: [String]?
    private let storedFeatures: Matrix?
    private let storedLayers: [Int: Matrix]
    /// A fine-tuned encoder's pooled vectors of the prompts, computed once for the members that read them.
    private var storedFineTuned: (encoder: ObjectIdentifier, pooled: Matrix)?
    /// Number of prompts.
    public let count: Int

    /// An input from the prompts' texts, their features and layer means (at least one of them).
    public init(texts: [String]?, features: Matrix?, layerMeans: [Int: Matrix] = [:]) {
        let count = texts?.count ?? features?.rows ?? layerMeans.values.first?.rows
        precondition(count != nil, "an estimator input needs texts, features or layer means")
        if let texts, let features {
            precondition(texts.count == features.rows, "\(texts.count) texts for \(features.rows) feature rows")
        }
        precondition(
            layerMeans.values.allSatisfy { $0.rows == count }, "layer means disagree with the prompts on their count")
        storedTexts = texts
        storedFeatures = features
        storedLayers = layerMeans
        self.count = count ?? 0
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

    /// Every layer's means the input carries, by layer.
    public var allLayerMeans: [Int: Matrix] { storedLayers }

    /// The prompts' mean-pooled, L2-normalised token states after encoder layer `layer` `[N, H]`.
    public func layerMeans(_ layer: Int) -> Matrix {
        guard let matrix = storedLayers[layer] else {
            preconditionFailure("this estimator input carries no means of layer \(layer)")
        }
        return matrix
    }

    /// The input whose features are the means of `layer`: what an estimator wrapped in
    /// ``EstimatorSpec/onLayer(layer:estimator:)`` reads as its features.
    public func featuresFromLayer(_ layer: Int) -> EstimatorInput {
        EstimatorInput(texts: storedTexts, features: layerMeans(layer), layerMeans: storedLayers)
    }

    /// The parts the input carries.
    public var parts: EstimatorInputs {
        storedLayers.keys.reduce(into: EstimatorInputs()) { $0.formUnion(.layerMeans($1)) }
            .union(hasTexts ? .texts : []).union(hasFeatures ? .features : [])
    }

    /// Whether the input carries every part in `parts`.
    public func carries(_ parts: EstimatorInputs) -> Bool { self.parts.isSuperset(of: parts) }

    /// The prompts at `indices`.
    public func subset(_ indices: [Int]) -> EstimatorInput {
        var subset = EstimatorInput(
            texts: storedTexts.map { all in indices.map { all[$0] } },
            features: storedFeatures.map { $0.rows(at: indices) },
            layerMeans: storedLayers.mapValues { $0.rows(at: indices) })
        subset.storedFineTuned = storedFineTuned.map { ($0.encoder, $0.pooled.rows(at: indices)) }
        return subset
    }

    /// The input carrying `pooled`, the pooled vectors `[N, H]` of its prompts under the fine-tuned encoder
    /// `encoder` (``TransformerEstimator/pooled(for:)``): the transformer and the members on its fine-tuned view
    /// then read them instead of running that encoder again.
    func withFineTunedPooled(_ pooled: Matrix, encoder: ObjectIdentifier) -> EstimatorInput {
        precondition(pooled.rows == count, "\(pooled.rows) fine-tuned vectors for \(count) prompts")
        var input = self
        input.storedFineTuned = (encoder, pooled)
        return input
    }

    /// The pooled vectors of the fine-tuned encoder `encoder` the input carries, if any.
    func fineTunedPooled(encoder: ObjectIdentifier) -> Matrix? {
        storedFineTuned.flatMap { $0.encoder == encoder ? $0.pooled : nil }
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

    /// Highest encoder layer whose means an estimator can read.
    public static let maximumLayer = 48

    /// The mean-pooled token states after encoder layer `layer` (0 is the embedding output), from the same encoder
    /// pass as the features.
    public static func layerMeans(_ layer: Int) -> EstimatorInputs {
        precondition((0...maximumLayer).contains(layer), "layer \(layer) outside 0...\(maximumLayer)")
        return EstimatorInputs(rawValue: 1 << (2 + layer))
    }

    /// The layers whose means are among the parts.
    public var layers: [Int] { (0...Self.maximumLayer).filter { rawValue & (1 << (2 + $0)) != 0 } }

    /// Whether giving these parts runs the frozen encoder: they include its features or a layer's means (texts
    /// alone do not).
    public var runsEncoder: Bool { contains(.features) || !layers.isEmpty }
}
