import CATImageCore

/// A fitted quality estimator: predicts every generator's expected quality γ̂_m(x) from the prompts' texts and
/// frozen features (``EstimatorInput``).
///
/// The design is *fit returns model*: an ``EstimatorSpec`` (what to train, with its hyper-parameters) is fitted
/// on a ``TrainingSet`` (an input and targets `[N][M]`) and returns an immutable, `Sendable` estimator. A fitted
/// estimator never changes, so one can be shared by every request of a server.
public protocol QualityEstimator: Sendable {
    /// The specification this estimator was fitted from, with every hyper-parameter resolved (never `.auto`).
    var spec: EstimatorSpec { get }
    /// Number of outputs (generators).
    var outputCount: Int { get }
    /// Predicted quality of every generator for each prompt of `input`: `[N][M]`.
    func predict(_ input: EstimatorInput) -> [[Double]]
    /// The arrays that define the estimator, by name, for the router file.
    func tensors() -> [String: EstimatorTensor]
}

extension QualityEstimator {
    /// Predictions from frozen features `[N, D]` alone, for estimators that read nothing else.
    public func predict(_ features: Matrix) -> [[Double]] { predict(EstimatorInput(features: features)) }
}

/// A named Float32 array with its shape, as stored in the router file.
public struct EstimatorTensor: Sendable, Equatable {
    /// Shape, outermost first.
    public var shape: [Int]
    /// Row-major values.
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "tensor shape \(shape) holds \(values.count) values")
        self.shape = shape
        self.values = values
    }

    /// A 2-D tensor from a matrix.
    public init(_ matrix: Matrix) { self.init(shape: matrix.shape, values: matrix.storage) }

    /// A 1-D tensor from Float64 values.
    public init(vector: [Double]) { self.init(shape: [vector.count], values: vector.map { Float($0) }) }

    /// The tensor as a matrix (1-D tensors become one row).
    public var matrix: Matrix {
        shape.count == 2
            ? Matrix(rows: shape[0], columns: shape[1], storage: values)
            : Matrix(rows: 1, columns: values.count, storage: values)
    }
}

extension TargetScaling {
    /// The scaling of an estimator on standardized targets as its router-file arrays: `targetMean`, `targetScale`.
    var tensors: [String: EstimatorTensor] {
        ["targetMean": EstimatorTensor(vector: means), "targetScale": EstimatorTensor(vector: scales)]
    }

    /// The scaling stored by ``tensors`` in `tensors`, for `outputs` generators; `nil` when it is missing or has
    /// another length.
    init?(stored tensors: [String: EstimatorTensor], outputs: Int) {
        guard let means = tensors["targetMean"], let scales = tensors["targetScale"], means.values.count == outputs,
            scales.values.count == outputs
        else { return nil }
        self.init(means: means.values.map { Double($0) }, scales: scales.values.map { Double($0) })
    }
}

/// A problem fitting or restoring an estimator.
public struct EstimatorError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The class of problem; stable for tests and tools.
    public enum Code: String, Sendable, Equatable {
        /// Bad parameters, data or arrays.
        case invalid
        /// Stored arrays in a layout an older format wrote, which this build no longer reads.
        case formerLayout
    }

    /// The class of problem.
    public let code: Code
    /// What went wrong, in words a person can act on.
    public let message: String

    public init(_ message: String) { self.init(.invalid, message) }

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Training data for an estimator: the prompts (``EstimatorInput``: texts, features), targets `[N][M]`, the
/// realised costs when known, and the encoder the features come from.
public struct TrainingSet: Sendable {
    /// The prompts' texts and features (L2-normalised sentence embeddings for the neighbour estimators).
    public var input: EstimatorInput
    /// Target quality of every generator per prompt.
    public var targets: [[Double]]
    /// Realised cost of every generator per prompt, when known: lets ``EstimatorSpec/auto(_:)`` score
    /// candidates by the area of their deferral curve instead of the λ = 0 quality, and the Transformer
    /// estimator stop early on the same area.
    public var costs: [[Double]]?
    /// The encoder the features come from: an estimator that fine-tunes it (the Transformer) starts from it.
    public var encoder: (any PromptEncoder)?
    /// Other metrics of the same prompts and generators, each `[N][M]` (``RoutingDataset/auxiliary``): what a
    /// multi-task fine-tune (``TransformerOptions``' `multitask`) learns beside the targets. Other estimators
    /// ignore them.
    public var auxiliaryQualities: [[[Double]]]

    public init(
        input: EstimatorInput, targets: [[Double]], costs: [[Double]]? = nil, encoder: (any PromptEncoder)? = nil,
        auxiliaryQualities: [[[Double]]] = []
    ) {
        precondition(input.count == targets.count, "\(input.count) prompts for \(targets.count) targets")
        precondition(Set(targets.map(\.count)).count <= 1, "ragged targets")
        precondition(costs == nil || costs?.count == targets.count, "costs and targets disagree on rows")
        precondition(
            auxiliaryQualities.allSatisfy { $0.count == targets.count },
            "auxiliary metrics and targets disagree on rows")
        self.input = input
        self.targets = targets
        self.costs = costs
        self.encoder = encoder
        self.auxiliaryQualities = auxiliaryQualities
    }

    /// Training data of features alone.
    public init(features: Matrix, targets: [[Double]], costs: [[Double]]? = nil) {
        self.init(input: EstimatorInput(features: features), targets: targets, costs: costs)
    }

    /// The prompts' features `[N, D]`.
    public var features: Matrix { input.features }

    /// Number of examples.
    public var count: Int { targets.count }
    /// Number of outputs.
    public var outputCount: Int { targets.first?.count ?? 0 }

    /// The examples at `indices`.
    public func subset(_ indices: [Int]) -> TrainingSet {
        TrainingSet(
            input: input.subset(indices), targets: indices.map { targets[$0] },
            costs: costs.map { all in indices.map { all[$0] } }, encoder: encoder,
            auxiliaryQualities: auxiliaryQualities.map { all in indices.map { all[$0] } })
    }
}
