import CATImageCore
import CATImageEncoder
import Foundation

/// The automatic estimator: a cross-validated choice among candidates, scored by the routing objective.
///
/// Inside the training data only, each of `folds` folds is held out in turn; every candidate is fitted on the
/// rest and scored on the held-out part by the **area of its deferral curve** (DESIGN.md) when costs are
/// known, else by the mean true quality of its λ = 0 choices. The choice starts at ``MeanEstimator`` (no prompt
/// information). The anchor (kernel + ridge + lexical) replaces it when its mean fold-wise gain over the mean exceeds
/// `anchorSignificance` standard errors: one pre-declared candidate needs no correction for a search. Then the
/// candidate with the best mean score replaces the current choice only if it beats it on every fold and on average
/// by more than `significance` standard errors (picking the best of many candidates favours lucky ones, hence the
/// strict test). So prompt features that do not help (small data) leave the mean, and the gain small data does hold
/// is found through the anchor.
public enum AutoSelection {
    /// One candidate's cross-validated score.
    public struct Score: Sendable, Equatable {
        public var spec: EstimatorSpec
        /// Score on each fold (area, or quality at λ = 0).
        public var folds: [Double]
        public var mean: Double { folds.reduce(0, +) / Double(max(1, folds.count)) }

        public init(spec: EstimatorSpec, folds: [Double]) {
            self.spec = spec
            self.folds = folds
        }
    }

    /// Cross-validated scores of `.mean` (first) and every candidate.
    public static func scores(
        _ data: TrainingSet, options: AutoOptions, seed: UInt64, progress: (@Sendable (String) -> Void)? = nil
    ) throws -> [Score] {
        guard options.folds >= 2, data.count >= 2 * options.folds else {
            return [Score(spec: .mean, folds: [0])]
        }
        let specs = [EstimatorSpec.mean] + options.candidates.filter { $0 != .mean }
        var scores = specs.map { Score(spec: $0, folds: []) }
        let parts = DataSplit.kFold(count: data.count, folds: options.folds, seed: seed)
        for (foldIndex, held) in parts.enumerated() {
            progress?("auto: fold \(foldIndex + 1)/\(parts.count)")
            let trainIndices = DataSplit.complement(of: held, count: data.count)
            let train = data.subset(trainIndices)
            let test = data.subset(held)
            let predictions = try predictAll(specs, train: train, test: test, seed: seed)
            for (s, predicted) in predictions.enumerated() {
                scores[s].folds.append(objective(predicted: predicted, train: train, test: test))
            }
        }
        return scores
    }

    /// Fits the chosen estimator on all of `data`.
    static func fit(
        _ data: TrainingSet, options: AutoOptions, seed: UInt64, progress: (@Sendable (String) -> Void)?
    ) throws -> any QualityEstimator {
        var options = options
        // Training data without some part (a library caller's features alone, or features from a file without
        // the encoder's layer means): candidates that read it drop out, and ensembles lose the members that do.
        let available = data.input.parts
        options.candidates = options.candidates.compactMap { $0.restricted(to: available) }.reduce(into: []) {
            if !$0.contains($1) { $0.append($1) }
        }
        options.anchor = options.anchor?.restricted(to: available)
        options.fineTuned = data.input.hasTexts ? options.fineTuned?.restricted(to: available) : nil
        if let anchor = options.anchor, !options.candidates.contains(anchor) { options.candidates.append(anchor) }
        let all = try scores(data, options: options, seed: seed, progress: progress)
        let chosen = choose(all, options: options)
        progress?("auto: chose \(chosen)")
        if let fitted = try fineTunedIfBetter(than: chosen, data, options: options, seed: seed, progress: progress) {
            return fitted
        }
        return try chosen.fit(data, seed: seed, progress: progress)
    }

    /// On a training set of at least `options.fineTuneMinimum` prompts with texts, fits `options.fineTuned` once
    /// and returns it when it beats `frozen` on the fine-tune's early-stopping prompts (split into `options.folds`
    /// parts, the mean gain above `options.anchorSignificance` standard errors: like the anchor, it is one
    /// pre-declared candidate, not the best of a search); `nil` when it is not tried or loses.
    ///
    /// Both are scored on prompts neither fitted on: the candidate's frozen partners and `frozen` fit on the rest.
    /// The fine-tune chose its checkpoint (one of about eight) by the deferral-curve area of those same prompts, a
    /// mild optimism in the candidate's favour.
    static func fineTunedIfBetter(
        than frozen: EstimatorSpec, _ data: TrainingSet, options: AutoOptions, seed: UInt64,
        progress: (@Sendable (String) -> Void)?
    ) throws -> (any QualityEstimator)? {
        guard let candidate = options.fineTuned, data.count >= options.fineTuneMinimum, data.input.hasTexts,
            data.encoder is SentenceEncoder, options.folds >= 2,
            let held = candidate.heldOutIndices(count: data.count, seed: seed), held.count >= 2 * options.folds
        else { return nil }
        progress?(
            "auto: \(data.count) prompts (≥ \(options.fineTuneMinimum)): trying \(candidate) against \(frozen) on "
                + "the fine-tune's \(held.count) held-out prompts")
        let fitted = try candidate.fit(data, seed: seed, progress: progress)
        let rest = data.subset(DataSplit.complement(of: held, count: data.count))
        let reference = try frozen.fit(rest, seed: seed)
        let heldOut = data.subset(held)
        let gain = holdoutGain(
            candidate: fitted.predict(heldOut.input), reference: reference.predict(heldOut.input), train: rest,
            test: heldOut, parts: options.folds, seed: seed)
        let keep = gain.exceeds(options.anchorSignificance, everyFold: false)
        let parts = gain.differences.map { String(format: "%+.4f", $0) }.joined(separator: " ")
        progress?(
            "auto: \(candidate) \(keep ? "kept" : "not kept"): gain \(String(format: "%+.4f", gain.mean)) ± "
                + "\(String(format: "%.4f", gain.standardError)) (standard error) over \(frozen) on the held-out "
                + "prompts' \(gain.differences.count) parts: \(parts)")
        return keep ? fitted : nil
    }

    /// Part-wise differences of the routing objective between two estimators' predictions of the same held-out
    /// prompts `test`, split into `parts` parts.
    static func holdoutGain(
        candidate: [[Double]], reference: [[Double]], train: TrainingSet, test: TrainingSet, parts: Int,
        seed: UInt64
    ) -> Gain {
        Gain(
            differences: DataSplit.kFold(count: test.count, folds: parts, seed: seed).map { part in
                let piece = test.subset(part)
                return objective(predicted: part.map { candidate[$0] }, train: train, test: piece)
                    - objective(predicted: part.map { reference[$0] }, train: train, test: piece)
            })
    }

    /// The winner among `scores` (the first entry must be the mean baseline) under `options`' two tests.
    public static func choose(_ scores: [Score], options: AutoOptions) -> EstimatorSpec {
        guard let baseline = scores.first, scores.count > 1 else { return .mean }
        var current = baseline
        if let anchor = options.anchor, let anchored = scores.first(where: { $0.spec == anchor }),
            gain(of: anchored, over: baseline).exceeds(options.anchorSignificance, everyFold: false)
        {
            current = anchored
        }
        let best = scores.dropFirst().max { $0.mean < $1.mean }!
        if best.spec != current.spec, gain(of: best, over: current).exceeds(options.significance, everyFold: true) {
            current = best
        }
        return current.spec
    }

    /// Fold-wise differences of `candidate` over `reference`.
    struct Gain {
        var differences: [Double]

        /// Whether the mean difference is above `significance` standard errors (and, with `everyFold`, every
        /// difference is positive).
        func exceeds(_ significance: Double, everyFold: Bool) -> Bool {
            guard !differences.isEmpty else { return false }
            if everyFold && !differences.allSatisfy({ $0 > 0 }) { return false }
            return mean > 0 && mean > significance * standardError
        }

        /// The mean difference.
        var mean: Double { differences.reduce(0, +) / Double(max(1, differences.count)) }

        /// The standard error of the mean difference.
        var standardError: Double {
            let n = Double(differences.count)
            guard n > 1 else { return 0 }
            let mean = self.mean
            return (differences.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1) / n).squareRoot()
        }
    }

    static func gain(of candidate: Score, over reference: Score) -> Gain {
        Gain(differences: zip(candidate.folds, reference.folds).map { $0 - $1 })
    }

    /// Predictions of every spec on `test`; neighbour specs share one similarity matrix and members of an
    /// ensemble reuse the predictions of equal candidates.
    static func predictAll(
        _ specs: [EstimatorSpec], train: TrainingSet, test: TrainingSet, seed: UInt64
    ) throws -> [[[Double]]] {
        var cache: [String: [[Double]]] = [:]
        let neighbour = specs.flatMap(neighbourSpecs).reduce(into: [EstimatorSpec]()) {
            if !$0.contains($1) { $0.append($1) }
        }
        if !neighbour.isEmpty {
            let similarities = test.features.multiplied(by: train.features, transposeOther: true)
            let targets = Matrix(rowVectors: train.targets.map { $0.map { Float($0) } })
            let resolved = neighbour.map { spec -> EstimatorSpec in
                if case .knn(let k, let weighted) = spec { return .knn(k: min(k, train.count), weighted: weighted) }
                return spec
            }
            let predictions = NeighborEstimator.predict(similarities: similarities, targets: targets, specs: resolved)
            for (spec, predicted) in zip(neighbour, predictions) { cache[spec.description] = predicted }
        }
        func predict(_ spec: EstimatorSpec) throws -> [[Double]] {
            if let cached = cache[spec.description] { return cached }
            let result: [[Double]]
            if case .ensemble(let members) = spec {
                let parts = try members.map(predict)
                result = parts[0].indices.map { i in
                    parts[0][i].indices.map { m in parts.reduce(0) { $0 + $1[i][m] } / Double(parts.count) }
                }
            } else {
                result = try spec.fit(train, seed: seed).predict(test.input)
            }
            cache[spec.description] = result
            return result
        }
        return try specs.map(predict)
    }

    private static func neighbourSpecs(_ spec: EstimatorSpec) -> [EstimatorSpec] {
        switch spec {
        case .knn, .kernel: return [spec]
        case .ensemble(let members): return members.flatMap(neighbourSpecs)
        default: return []
        }
    }

    /// The routing objective on a held-out part: deferral-curve area, or λ = 0 quality without costs.
    static func objective(predicted: [[Double]], train: TrainingSet, test: TrainingSet) -> Double {
        let m = test.outputCount
        guard let costs = test.costs, let trainCosts = train.costs else {
            let choices = DeferralCurve.choices(
                predicted: predicted,
                ruleCosts: [[Double]](repeating: [Double](repeating: 0, count: m), count: predicted.count),
                lambda: 0)
            return zip(choices, test.targets).reduce(0) { $0 + $1.1[$1.0] } / Double(max(1, choices.count))
        }
        let ruleCost = trainCosts.columnMeans(width: m)
        let curve = DeferralCurve.sweep(
            predicted: predicted, ruleCosts: [[Double]](repeating: ruleCost, count: predicted.count),
            quality: test.targets, cost: costs)
        let reference = ReferenceFigures(
            generators: (0..<m).map { "\($0)" }, quality: test.targets, cost: costs)
        return DeferralCurve.area(
            of: curve, lowCost: reference.costRange.lowerBound, highCost: reference.costRange.upperBound)
    }
}
