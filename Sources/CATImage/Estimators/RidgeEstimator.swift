import CATImageCore

/// Multi-output ridge regression: `W = (XᵀX + αI)⁻¹ XᵀY` on centred features and standardized targets.
///
/// The normal equations are formed with DGEMM and solved by Cholesky in Float64, so fitting on 10,000
/// prompts of 384 features takes well under a second.
public struct RidgeEstimator: QualityEstimator {
    public let spec: EstimatorSpec
    /// Feature means `[D]` subtracted before the product.
    public let featureMeans: [Float]
    /// Weights `[D, M]` in standardized target units.
    public let weights: Matrix
    let scaling: TargetScaling

    init(_ data: TrainingSet, alpha: Double) throws {
        let n = data.count
        let d = data.features.columns
        let m = data.outputCount
        let means = data.features.columnMeans()
        var x = [Double](repeating: 0, count: n * d)
        for i in 0..<n { for j in 0..<d { x[i * d + j] = Double(data.features.storage[i * d + j] - means[j]) } }
        let scaling = TargetScaling(quality: data.targets).roundedToFloat32()
        let y = scaling.targets(fromQualities: data.targets).flatMap { $0 }
        let solution: [Double]
        do {
            solution = try RidgeSolver.solve(
                centredFeatures: x, rows: n, columns: d, targets: y, outputs: m, alpha: alpha)
        } catch {
            throw EstimatorError("ridge(alpha=\(alpha)) could not solve its normal equations: \(error)")
        }
        self.spec = .ridge(alpha: alpha)
        self.featureMeans = means
        self.weights = Matrix(rows: d, columns: m, storage: solution.map { Float($0) })
        self.scaling = scaling
    }

    init(spec: EstimatorSpec, tensors: [String: EstimatorTensor]) throws {
        guard let means = tensors["featureMean"], let weights = tensors["weights"], weights.shape.count == 2,
            weights.shape[0] == means.values.count,
            let scaling = TargetScaling(stored: tensors, outputs: weights.shape[1])
        else { throw EstimatorError("ridge estimator tensors are missing or disagree in shape") }
        self.spec = spec
        self.featureMeans = means.values
        self.weights = weights.matrix
        self.scaling = scaling
    }

    public var outputCount: Int { weights.columns }

    public func predict(_ input: EstimatorInput) -> [[Double]] {
        let features = input.features
        precondition(features.columns == featureMeans.count, "features \(features.shape) for ridge of \(weights.shape)")
        var centred = features
        centred.addToEachRow(featureMeans.map { -$0 })
        let z = centred.multiplied(by: weights)
        return (0..<z.rows).map { r in scaling.quality(fromTarget: z.row(r).map { Double($0) }) }
    }

    public func tensors() -> [String: EstimatorTensor] {
        scaling.tensors.merging([
            "featureMean": EstimatorTensor(shape: [featureMeans.count], values: featureMeans),
            "weights": EstimatorTensor(weights),
        ]) { $1 }
    }
}
