import CATImageCore

/// An estimator that reads the fine-tuned encoder of the transformer beside it as its features
/// (``EstimatorSpec/onFineTuned(estimator:)``, `krr:finetuned` on the command line): the pooled vectors the
/// transformer's head reads, L2-normalised.
///
/// Fine-tuning moves prompts that route alike closer together, so a similarity estimator on those vectors finds
/// better neighbours than on the frozen sentence embedding, and averages them where the head fits one linear map.
/// The transformer computes the vectors for its own prediction anyway; an ensemble that holds both computes them
/// once (``EnsembleEstimator``), so the member costs a similarity row, not a third encoder pass (README, issue 15).
public struct FineTunedViewEstimator: QualityEstimator {
    /// The transformer whose fine-tuned encoder gives the features.
    public let transformer: TransformerEstimator
    /// The estimator fitted on the fine-tuned vectors.
    public let estimator: any QualityEstimator

    init(transformer: TransformerEstimator, estimator: any QualityEstimator) {
        self.transformer = transformer
        self.estimator = estimator
    }

    public var spec: EstimatorSpec { .onFineTuned(estimator: estimator.spec) }
    public var outputCount: Int { estimator.outputCount }

    public func predict(_ input: EstimatorInput) -> [[Double]] {
        guard input.count > 0 else { return [] }
        return estimator.predict(view(of: input))
    }

    /// The estimator's arrays (the stored fine-tuned vectors of the training prompts among them); the transformer's
    /// are stored by the transformer member.
    public func tensors() -> [String: EstimatorTensor] { estimator.tensors() }

    /// The input the inner estimator reads: the fine-tuned vectors of `input`'s prompts, L2-normalised, as features.
    func view(of input: EstimatorInput) -> EstimatorInput {
        EstimatorInput(features: Self.normalized(transformer.pooled(for: input)))
    }

    static func normalized(_ pooled: Matrix) -> Matrix {
        var features = pooled
        features.normalizeRows()
        return features
    }

    /// `data` with the fine-tuned vectors of its prompts under `transformer` as its features (what the members on
    /// the view fit on).
    static func trainingView(
        _ data: TrainingSet, transformer: TransformerEstimator, progress: (@Sendable (String) -> Void)?
    ) throws -> TrainingSet {
        guard data.input.hasTexts else {
            throw EstimatorError("the fine-tuned view reads the prompts' texts: the training set has none")
        }
        progress?("embedding \(data.count) prompts with the fine-tuned encoder for the members on its view")
        var view = data
        view.input = EstimatorInput(features: normalized(transformer.pooled(for: data.input)))
        return view
    }

    /// Fits `estimator` (checked by ``validate(ensemble:)``) on `view` (``trainingView(_:transformer:progress:)``).
    static func fit(
        _ view: TrainingSet, estimator: EstimatorSpec, transformer: TransformerEstimator, seed: UInt64,
        progress: (@Sendable (String) -> Void)?
    ) throws -> FineTunedViewEstimator {
        FineTunedViewEstimator(
            transformer: transformer, estimator: try estimator.fit(view, seed: seed, progress: progress))
    }

    /// The one transformer among an ensemble's `members` that `member` reads.
    static func transformer(among members: [any QualityEstimator], for member: EstimatorSpec) throws
        -> TransformerEstimator
    {
        let transformers = members.compactMap { $0 as? TransformerEstimator }
        guard transformers.count == 1 else {
            throw transformers.isEmpty ? needsTransformer(member) : ambiguous(member, transformers: transformers.count)
        }
        return transformers[0]
    }

    /// Checks an ensemble's members before any is fitted: every member on the fine-tuned view reads a feature
    /// estimator, and one transformer stands beside them.
    static func validate(ensemble members: [EstimatorSpec]) throws {
        guard let first = members.first(where: \.isFineTunedView) else { return }
        for case .onFineTuned(let estimator) in members { try validate(estimator: estimator) }
        let transformers = members.filter { if case .transformer = $0 { return true } else { return false } }.count
        guard transformers == 1 else {
            throw transformers == 0 ? needsTransformer(first) : ambiguous(first, transformers: transformers)
        }
    }

    static func ambiguous(_ member: EstimatorSpec, transformers: Int) -> EstimatorError {
        EstimatorError(
            "\(member) reads the fine-tuned encoder of the transformer beside it; this ensemble holds "
                + "\(transformers) transformers, so which one is ambiguous")
    }

    /// The error for a fine-tuned view without a transformer beside it.
    static func needsTransformer(_ member: EstimatorSpec) -> EstimatorError {
        EstimatorError(
            "\(member) reads the fine-tuned encoder of a transformer member of the same ensemble: "
                + "write it beside one, e.g. transformer+krr:finetuned")
    }

    /// Checks that `estimator` can read the fine-tuned vectors: a feature estimator (not one that reads texts,
    /// chooses, stacks or nests another view).
    static func validate(estimator: EstimatorSpec) throws {
        guard estimator.readsPlainFeatures else {
            throw EstimatorError(
                "only knn, kernel, ridge, krr, mlp or mean can read the fine-tuned encoder, not '\(estimator.kind)'")
        }
    }
}
