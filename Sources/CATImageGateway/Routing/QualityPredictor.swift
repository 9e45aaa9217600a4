/// What the gateway needs from a trained router: generator names and costs, and predicted qualities.
///
/// `CATImage.Router` conforms; the gateway applies the routing rule itself because its λ moves online.
public protocol QualityPredictor: Sendable {
    /// Generator names, in the order of `generatorCosts` and of each row `predictQualities` returns.
    var generatorNames: [String] { get }
    /// The cost of each generator used by the rule (the router's cost unit).
    var generatorCosts: [Double] { get }
    /// The λ to use when no budget is set.
    var defaultLambda: Double { get }
    /// Predicted mean quality γ̂ of every generator for each prompt: `[prompts.count][generatorNames.count]`.
    ///
    /// CPU-heavy (it runs the sentence encoder): the gateway calls it on its own threads only.
    func predictQualities(for prompts: [String]) -> [[Double]]
    /// The λ whose routing meets a mean-cost budget on the router's calibration data, if it has any.
    func lambda(forBudget meanCost: Double) -> Double?
}
