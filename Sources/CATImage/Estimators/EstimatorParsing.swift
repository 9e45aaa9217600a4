import CATImageCore
import CATImageTraining
import Foundation

/// Default hyper-parameters for estimators named on the command line without their own.
public struct EstimatorDefaults: Sendable, Equatable {
    public var k = 50
    public var weighted = false
    public var tau = 0.1
    public var alpha = 10.0
    public var mlp = MLPOptions()

    public init() {}
}

extension EstimatorSpec {
    /// Parses a comma-separated list of estimators.
    ///
    /// Each item is a kind with optional `:key=value` parameters, and `+` joins the members of an ensemble:
    /// `knn`, `knn:k=200`, `knn:k=50:weighted`, `kernel:tau=0.05`, `ridge:alpha=10`, `mlp:hidden=256x64`,
    /// `mean`, `auto` (keys `significance`, `anchor=ensemble|ensemble-lexical|none`, `anchor-significance`,
    /// `transformer=on|off`, `transformer-min=N`), `ensemble` (kernel + ridge with the defaults),
    /// `kernel:tau=0.05+ridge:alpha=10`,
    /// `lexical` (ridge on TF-IDF of word n-grams; keys `alpha`, `min-count`, `ngrams`), `krr` (kernel ridge
    /// regression on the similarity kernel; keys `tau` (default 0.2), `alpha` (default 1)); `layer=L` on knn, kernel,
    /// ridge, krr or mlp reads the mean-pooled encoder layer L instead of the sentence embedding (`krr:layer=4`), and
    /// `finetuned` the fine-tuned encoder of the transformer beside it (`transformer+krr:finetuned`),
    /// `transformer` (fine-tuned MiniLM; keys `target=relative|absolute`, `epochs`, `batch`, `max-tokens`, `lr`,
    /// `head-lr`, `hidden`, `dropout`, `patience`, `max-steps`, `workers`, and `decision=W`, `decision-t=T` to train
    /// for the routing decision too: ``DecisionOptions``, `multitask=W` to learn the training set's auxiliary metrics
    /// beside its target with weight W: ``FineTuneOptions/auxiliaryWeight``), averaged with partners like any
    /// estimator: `transformer+kernel:tau=0.05`; `transformer:ridge=α:kernel=τ` is short for
    /// `transformer+ridge:alpha=α+kernel:tau=τ`; `stack(kernel:tau=0.05,ridge:alpha=10)` learns per-generator
    /// weights of its members by the routing objective (``StackEstimator``; options `folds=N`, `steps=N`).
    public static func parseList(_ text: String, defaults: EstimatorDefaults = EstimatorDefaults()) throws
        -> [EstimatorSpec]
    {
        let items = splitTopLevel(text, on: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !items.isEmpty else {
            throw EstimatorError("name at least one estimator (knn, kernel, ridge, mlp, mean, ensemble, auto)")
        }
        return try items.map { item in
            let members = splitTopLevel(item, on: "+")
            if members.count > 1 {
                return .ensemble(
                    try members.flatMap { member -> [EstimatorSpec] in
                        let spec = try parseOne(member, defaults: defaults)
                        if case .ensemble(let inner) = spec, member.lowercased().hasPrefix("transformer") {
                            return inner
                        }
                        return [spec]
                    })
            }
            return try parseOne(item, defaults: defaults)
        }
    }

    static func parseOne(_ text: String, defaults: EstimatorDefaults) throws -> EstimatorSpec {
        if text.lowercased().hasPrefix("stack") { return try parseStack(text, defaults: defaults) }
        let parts = text.split(separator: ":").map(String.init)
        guard let kind = parts.first?.lowercased() else { throw EstimatorError("empty estimator name") }
        var parameters: [String: String] = [:]
        for part in parts.dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            parameters[pair[0].lowercased()] = pair.count > 1 ? pair[1] : "true"
        }
        func number(_ key: String, _ fallback: Double) throws -> Double {
            guard let value = parameters.removeValue(forKey: key) else { return fallback }
            guard let parsed = Double(value), parsed.isFinite else {
                throw EstimatorError("estimator '\(text)': \(key)=\(value) is not a number")
            }
            return parsed
        }
        func whole(_ key: String, _ fallback: Int, minimum: Int) throws -> Int {
            let value = try number(key, Double(fallback))
            guard value >= Double(minimum), value == value.rounded(), value < 1e9 else {
                throw EstimatorError("estimator '\(text)': \(key) must be a whole number ≥ \(minimum)")
            }
            return Int(value)
        }
        let layer = parameters["layer"] != nil ? try whole("layer", 0, minimum: 0) : nil
        let fineTunedView = parameters.removeValue(forKey: "finetuned").map { $0 != "false" } ?? false
        if fineTunedView, layer != nil {
            throw EstimatorError("estimator '\(text)': read an encoder layer or the fine-tuned encoder, not both")
        }
        let spec: EstimatorSpec
        switch kind {
        case "mean":
            spec = .mean
        case "knn":
            let k = try number("k", Double(defaults.k))
            guard k >= 1, k == k.rounded() else {
                throw EstimatorError("estimator '\(text)': k must be a whole number ≥ 1")
            }
            let weighted = parameters.removeValue(forKey: "weighted").map { $0 != "false" } ?? defaults.weighted
            spec = .knn(k: Int(k), weighted: weighted)
        case "kernel":
            let tau = try number("tau", defaults.tau)
            guard tau > 0 else { throw EstimatorError("estimator '\(text)': tau must be > 0") }
            spec = .kernel(tau: tau)
        case "ridge":
            let alpha = try number("alpha", defaults.alpha)
            guard alpha >= 0 else { throw EstimatorError("estimator '\(text)': alpha must be ≥ 0") }
            spec = .ridge(alpha: alpha)
        case "krr":
            let tau = try number("tau", 0.2)
            let alpha = try number("alpha", 1)
            guard tau > 0 else { throw EstimatorError("estimator '\(text)': tau must be > 0") }
            guard alpha > 0 else { throw EstimatorError("estimator '\(text)': alpha must be > 0") }
            spec = .krr(tau: tau, alpha: alpha)
        case "lexical":
            var options = LexicalOptions()
            options.alpha = try number("alpha", options.alpha)
            options.minCount = try whole("min-count", options.minCount, minimum: 1)
            options.maxN = try whole("ngrams", options.maxN, minimum: 1)
            do { try options.validate() } catch { throw EstimatorError("estimator '\(text)': \(error)") }
            spec = .lexical(options)
        case "mlp":
            var options = defaults.mlp
            if let hidden = parameters.removeValue(forKey: "hidden") {
                let widths = hidden.split(separator: "x").compactMap { Int($0) }
                guard !widths.isEmpty, widths.count <= 2, widths.allSatisfy({ $0 > 0 }) else {
                    throw EstimatorError("estimator '\(text)': hidden must be one or two widths like 256 or 256x64")
                }
                options.hidden = widths
            }
            options.maxEpochs = Int(try number("epochs", Double(options.maxEpochs)))
            options.learningRate = try number("lr", options.learningRate)
            options.weightDecay = try number("decay", options.weightDecay)
            spec = .mlp(options)
        case "ensemble":
            spec = .ensemble([.kernel(tau: defaults.tau), .ridge(alpha: defaults.alpha)])
        case "auto":
            var options = AutoOptions()
            options.significance = try number("significance", options.significance)
            options.anchorSignificance = try number("anchor-significance", options.anchorSignificance)
            if let anchor = parameters.removeValue(forKey: "anchor") {
                switch anchor.lowercased() {
                case "none": options.anchor = nil
                case "ensemble": options.anchor = AutoOptions.kernelRidge
                case "ensemble-lexical": options.anchor = AutoOptions.kernelRidgeLexical
                default:
                    throw EstimatorError(
                        "estimator '\(text)': anchor must be ensemble, ensemble-lexical or none, got '\(anchor)'")
                }
            }
            if let fineTune = parameters.removeValue(forKey: "transformer") {
                switch fineTune.lowercased() {
                case "on": break
                case "off": options.fineTuned = nil
                default:
                    throw EstimatorError("estimator '\(text)': transformer must be on or off, got '\(fineTune)'")
                }
            }
            options.fineTuneMinimum = try whole("transformer-min", options.fineTuneMinimum, minimum: 0)
            spec = .auto(options)
        case "transformer":
            var options = FineTuneOptions()
            var target = TargetKind.relative
            if let value = parameters.removeValue(forKey: "target") {
                guard let kind = TargetKind(rawValue: value.lowercased()) else {
                    throw EstimatorError("estimator '\(text)': target must be relative or absolute, got '\(value)'")
                }
                target = kind
            }
            options.epochs = try whole("epochs", options.epochs, minimum: 1)
            options.batchSize = try whole("batch", options.batchSize, minimum: 1)
            options.maxTokens = try whole("max-tokens", options.maxTokens, minimum: 2)
            options.headHiddenSize = try whole("hidden", options.headHiddenSize, minimum: 0)
            options.workers = try whole("workers", options.workers, minimum: 1)
            if parameters["max-steps"] != nil { options.maxSteps = try whole("max-steps", 1, minimum: 1) }
            if parameters["patience"] != nil { options.patience = try whole("patience", 1, minimum: 1) }
            options.optimizer.encoderLearningRate = try number("lr", options.optimizer.encoderLearningRate)
            options.optimizer.headLearningRate = try number("head-lr", options.optimizer.headLearningRate)
            if parameters["dropout"] != nil { options.dropout = try number("dropout", 0) }
            if parameters["decision"] != nil || parameters["decision-t"] != nil {
                var decision = DecisionOptions()
                decision.weight = try number("decision", decision.weight)
                decision.temperature = try number("decision-t", decision.temperature)
                options.decision = decision
            }
            if parameters["multitask"] != nil { options.auxiliaryWeight = try number("multitask", 1) }
            var partners: [EstimatorSpec] = []
            if parameters["ridge"] != nil {
                let alpha = try number("ridge", 30)
                guard alpha >= 0 else { throw EstimatorError("estimator '\(text)': ridge alpha must be ≥ 0") }
                partners.append(.ridge(alpha: alpha))
            }
            if parameters["kernel"] != nil {
                let tau = try number("kernel", 0.05)
                guard tau > 0 else { throw EstimatorError("estimator '\(text)': kernel tau must be > 0") }
                partners.append(.kernel(tau: tau))
            }
            do { try options.validate() } catch { throw EstimatorError("estimator '\(text)': \(error.message)") }
            guard options.maxTokens <= 512 else {
                throw EstimatorError("estimator '\(text)': max-tokens must be at most 512")
            }
            let transformer = EstimatorSpec.transformer(TransformerOptions(target: target, fineTune: options))
            spec = partners.isEmpty ? transformer : .ensemble([transformer] + partners)
        default:
            throw EstimatorError(
                "unknown estimator '\(kind)' (expected knn, kernel, ridge, krr, lexical, mlp, mean, ensemble, auto, transformer or stack)"
            )
        }
        if let unknown = parameters.keys.sorted().first {
            throw EstimatorError("estimator '\(text)': unknown parameter '\(unknown)'")
        }
        if let layer {
            do { try LayerEstimator.validate(layer: layer, estimator: spec) } catch {
                throw EstimatorError("estimator '\(text)': \(error)")
            }
            return .onLayer(layer: layer, estimator: spec)
        }
        if fineTunedView {
            do { try FineTunedViewEstimator.validate(estimator: spec) } catch {
                throw EstimatorError("estimator '\(text)': \(error)")
            }
            return .onFineTuned(estimator: spec)
        }
        return spec
    }
}
