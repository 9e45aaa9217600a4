import ArgumentParser
import CATImage
import Foundation

/// Estimator choice and default hyper-parameters, shared by `train` and `evaluate`.
struct EstimatorOptions: ParsableArguments {
    @Option(
        help: """
            Estimator(s): knn, kernel, ridge, krr, lexical, mlp, mean, ensemble, auto, transformer; a comma \
            list compares several (evaluate). Parameters inline: knn:k=200, kernel:tau=0.05, ridge:alpha=10, \
            krr:tau=0.2:alpha=1 (kernel ridge regression, the best single frozen estimator measured), \
            lexical:alpha=3 (ridge on the prompt's words, no encoder), mlp:hidden=256x64; layer=L on knn, kernel, \
            ridge, krr or mlp reads the mean-pooled encoder layer L of the same pass instead of the sentence \
            embedding (krr:layer=4), finetuned reads the fine-tuned encoder of the transformer beside it \
            (transformer+krr:finetuned, no third encoder pass); '+' joins ensemble members: kernel:tau=0.05+krr+lexical+krr:layer=4 (the \
            default, the best one-pass router measured); \
            auto chooses by cross-validation, and from 5,000 prompts also fine-tunes MiniLM once and keeps \
            transformer+kernel+krr+lexical+krr:layer=4 if it wins held out (auto:transformer=off, auto:transformer-min=N); \
            stack(kernel:tau=0.05,ridge:alpha=10) learns per-generator member weights by the routing objective \
            (options folds=N, steps=N, shrink).
            """)
    var estimator = "kernel:tau=0.05+krr+lexical+krr:layer=4"

    @Option(help: "Neighbours for knn.")
    var k = 50

    @Flag(help: "Weigh knn neighbours by their cosine similarity.")
    var weighted = false

    @Option(help: "Width τ of the similarity kernel (weights exp(cos/τ)).")
    var tau = 0.1

    @Option(help: "Ridge penalty α.")
    var alpha = 10.0

    @Option(help: "MLP hidden widths, one or two layers (256 or 256x64).")
    var hidden = "256"

    @Option(help: "MLP maximum epochs.")
    var epochs = 100

    func specs() throws -> [EstimatorSpec] {
        var defaults = EstimatorDefaults()
        defaults.k = k
        defaults.weighted = weighted
        defaults.tau = tau
        defaults.alpha = alpha
        let widths = hidden.split(separator: "x").compactMap { Int($0) }
        guard !widths.isEmpty, widths.count <= 2 else {
            throw ValidationError("--hidden must be one or two widths like 256 or 256x64, got '\(hidden)'")
        }
        defaults.mlp.hidden = widths
        defaults.mlp.maxEpochs = epochs
        do { return try EstimatorSpec.parseList(estimator, defaults: defaults) } catch let error as EstimatorError {
            throw ValidationError(error.message)
        }
    }
}
