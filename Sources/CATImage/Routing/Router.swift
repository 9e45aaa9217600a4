import CATImageCore
import Foundation

/// A trained router: an encoder, the generators with their costs, a quality estimator and a λ policy.
///
/// It sends a prompt to `argmax_m (γ̂_m(x) − λ·c_m)` (``RoutingRule``), where `c_m` is each generator's mean
/// cost on the training data. Immutable and `Sendable`: one instance serves every request.
public struct Router: Sendable {
    /// The encoder that turns prompts into the estimator's features.
    public let encoder: any PromptEncoder
    /// The generators, with the cost the rule uses (the training mean; 0 when the data had no cost).
    public let generators: [Generator]
    /// The fitted quality estimator.
    public let estimator: any QualityEstimator
    /// How ``defaultLambda`` was chosen.
    public let lambdaPolicy: LambdaPolicy
    /// λ → (mean cost, mean quality) on held-out training prompts, sorted by λ.
    public let calibration: [CalibrationPoint]
    /// What the qualities measure, and the unit of the costs.
    public let metric: String
    public let costUnit: String
    /// The encoder identity the router was trained with (checked when loading).
    public let encoderIdentifier: String
    public let encoderDigest: String

    public init(
        encoder: any PromptEncoder, generators: [Generator], estimator: any QualityEstimator,
        lambdaPolicy: LambdaPolicy, calibration: [CalibrationPoint], metric: String, costUnit: String
    ) {
        precondition(generators.count == estimator.outputCount, "one estimator output per generator")
        self.encoder = encoder
        self.generators = generators
        self.estimator = estimator
        self.lambdaPolicy = lambdaPolicy
        self.calibration = calibration.sorted { $0.lambda < $1.lambda }
        self.metric = metric
        self.costUnit = costUnit
        self.encoderIdentifier = encoder.modelIdentifier
        self.encoderDigest = encoder.weightsDigest
    }

    /// The λ used when a call gives none.
    public var defaultLambda: Double { lambdaPolicy.lambda }

    /// The cost of each generator used by the rule.
    public var costs: [Double] { generators.map { $0.cost ?? 0 } }

    /// Predicted quality `[prompt][generator]`.
    public func predictQualities(for prompts: [String]) -> [[Double]] {
        guard !prompts.isEmpty else { return [] }
        // The frozen encoder runs only when the estimator reads its features or layers.
        return estimator.predict(encoder.input(for: prompts, reads: estimator.spec.reads))
    }

    /// The decision for one prompt at `lambda` (the default λ when `nil`).
    public func decide(prompt: String, lambda: Double? = nil) -> RoutingDecision {
        decide(prompts: [prompt], lambda: lambda)[0]
    }

    /// The decisions for several prompts (one encoder batch).
    public func decide(prompts: [String], lambda: Double? = nil) -> [RoutingDecision] {
        let lambda = lambda ?? defaultLambda
        let names = generators.map(\.name)
        let costs = costs
        return predictQualities(for: prompts).map {
            RoutingDecision(generators: names, predicted: $0, costs: costs, lambda: lambda)
        }
    }

    /// The λ meeting a mean cost of `meanCost` on held-out prompts, from the calibration table.
    public func lambda(forBudget meanCost: Double) -> Double? {
        Calibration.lambda(forBudget: meanCost, in: calibration)
    }

    /// The largest λ whose held-out mean quality reaches `quality`, from the calibration table.
    public func lambda(forQuality quality: Double) -> Double? {
        Calibration.lambda(forQuality: quality, in: calibration)
    }

    /// The same router with another default λ policy.
    public func with(lambdaPolicy: LambdaPolicy) -> Router {
        Router(
            encoder: encoder, generators: generators, estimator: estimator, lambdaPolicy: lambdaPolicy,
            calibration: calibration, metric: metric, costUnit: costUnit)
    }
}
