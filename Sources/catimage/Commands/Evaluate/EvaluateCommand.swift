import ArgumentParser
import CATImage
import Foundation

/// `catimage evaluate`: deferral curves and routing figures on held-out prompts.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Evaluate routers on held-out prompts: deferral curves, area, gap recovered, savings.",
        discussion: """
            Figures follow DESIGN.md: area under the non-decreasing deferral curve over the generators' cost \
            range, gap recovered relative to the zero router (upper hull of single generators) and the oracle, \
            quality gain over the best single generator, cost saving at its quality, APGR and AIQ. Datasets \
            without cost are evaluated at λ = 0 (quality-only).

            Examples:
              catimage evaluate --cems ../shared/datasets/cems --metric clip \\
                --estimator knn:k=50,knn:k=200,ridge --test-fraction 0.2
              catimage evaluate --cems ../shared/datasets/cems --estimator kernel \\
                --tau 0.05 --folds 5 --svg curves.svg --html report.html
              catimage evaluate \\
                --csv ../shared/datasets/evalmi50k/evalmi50k_long.csv \\
                --id-column prompt_id --group-column tag --generator-column model \\
                --quality-column mos_perception --estimator knn --k 25 \\
                --test-fraction 0.2 --seeds 5 --json
              catimage evaluate --cems ../shared/datasets/cems --metric clip --learning-curve 0.125,0.25,0.5,1
              catimage evaluate --log decisions.sqlite --router candidate.catimage --metric clip --budget 0.4
              catimage evaluate --cems ../shared/datasets/cems --metric clip \\
                --estimator transformer:kernel=0.05,kernel:tau=0.05+ridge --test-fraction 0.2

            Estimators: mean, knn:k=50[:weighted], kernel:tau=0.05, ridge:alpha=10, mlp:hidden=256x64, \
            a+b (ensemble), auto, and transformer (MiniLM fine-tuned on each part's training prompts, \
            16-18 minutes per part of 8,000 prompts on two cores) with keys target=relative|absolute, epochs, batch, max-tokens, \
            lr, head-lr, hidden, dropout, patience, max-steps, and partners ridge=α, kernel=τ.
            """
    )

    @OptionGroup var data: DatasetOptions
    @OptionGroup var estimators: EstimatorOptions
    @OptionGroup var features: FeatureOptions
    @OptionGroup var targetOptions: TargetOptions
    @OptionGroup(title: "Off-policy evaluation on a decision log") var offPolicy: OffPolicyOptions

    @Option(help: "k-fold cross-validation with this many folds (default 5 unless --test-fraction is given).")
    var folds: Int?

    @Option(help: "Evaluate on one random test part of this fraction per seed instead of k folds.")
    var testFraction: Double?

    @Option(help: "Seed of the split (the first seed with --seeds).")
    var seed: UInt64 = 0

    @Option(help: "With --test-fraction: repeat over this many seeds (seed, seed+1, ...).")
    var seeds = 1

    @Flag(help: "Do not stratify splits by the dataset's groups.")
    var noStratify = false

    @Flag(
        help: ArgumentHelp(
            "Also report every proper subset of each ensemble's members, averaged, from the same fits.",
            discussion: "An ensemble holding a fine-tuned transformer then shows each partner's share without "
                + "another fine-tune: 'transformer+kernel:tau=0.05+lexical' also gives the transformer alone, "
                + "transformer+kernel, transformer+lexical, kernel+lexical, kernel and lexical."))
    var memberSubsets = false

    @Option(
        help: ArgumentHelp(
            "A learning curve: evaluate with each estimator fitted on these shares of every training part.",
            discussion: "Comma-separated shares in (0, 1], e.g. 0.125,0.25,0.5,1: the same split, each share's "
                + "prompts drawn at random (nested), tested on the whole test part. What the last doubling of the "
                + "training prompts added says whether collecting more would pay.",
            valueName: "shares"))
    var learningCurve: String?

    @Flag(help: "Print one JSON object instead of tables.")
    var json = false

    @Option(help: "Write an SVG plot of the deferral curves.")
    var svg: String?

    @Option(help: "Write a self-contained HTML report.")
    var html: String?

    @Option(help: "Write the router curves as CSV (estimator,lambda,cost,quality).")
    var curveCsv: String?

    func validate() throws {
        if offPolicy.log != nil { return }
        guard data.namesDataset else {
            throw ValidationError("name a dataset (--csv FILE or --cems DIR), or a decision log (--log with --router)")
        }
        if folds != nil && testFraction != nil { throw ValidationError("give --folds or --test-fraction, not both") }
        if let folds, folds < 2 { throw ValidationError("--folds must be at least 2, got \(folds)") }
        if let testFraction, !(testFraction > 0 && testFraction < 1) {
            throw ValidationError("--test-fraction must be between 0 and 1, got \(testFraction)")
        }
        if seeds < 1 { throw ValidationError("--seeds must be at least 1") }
        if learningCurve != nil {
            _ = try shares()
            if svg != nil || html != nil || curveCsv != nil {
                throw ValidationError(
                    "--learning-curve prints a table or JSON; --svg, --html and --curve-csv draw one evaluation")
            }
        }
        try targetOptions.check(estimators.specs(), data: data)
    }

    func run() throws {
        if let log = offPolicy.log, let router = offPolicy.router { return try runOffPolicy(log: log, router: router) }
        let specs = try estimators.specs()
        let dataset = try targetOptions.load(data)
        let reads = specs.reduce(into: EstimatorInputs()) { $0.formUnion($1.reads) }
        let (matrix, layerMeans) = try features.features(for: dataset, specs: specs)
        let split: EvaluationSplit =
            testFraction.map { fraction in
                .trainTest(testFraction: fraction, seeds: (0..<seeds).map { seed + UInt64($0) })
            }
            ?? .folds(folds ?? 5, seed: seed)
        let started = Date()
        let bar = ProgressBar(label: "evaluating", unit: "fits")
        // Estimators that read texts run an encoder of their own, started from the sentence encoder.
        let encoder =
            reads.contains(.texts)
            ? try PromptEmbedding.loadEncoder(modelDirectory: features.modelFolder.directory) : nil
        if learningCurve != nil {
            let curve = try LearningCurve.run(
                dataset: dataset, features: matrix, layerMeans: layerMeans, estimators: specs, split: split,
                shares: try shares(), stratify: !noStratify, encoder: encoder, memberSubsets: memberSubsets,
                progress: { bar.status($0) }, steps: { bar.update($0, $1) })
            bar.finish()
            Terminal.printError(String(format: "evaluated in %.1f s", Date().timeIntervalSince(started)))
            return json ? try JSONOutput.print(curve) : printLearningCurve(curve)
        }
        let report = try RouterEvaluation.run(
            dataset: dataset, features: matrix, layerMeans: layerMeans, estimators: specs, split: split,
            stratify: !noStratify,
            encoder: encoder, memberSubsets: memberSubsets, progress: { bar.status($0) },
            steps: { bar.update($0, $1) })
        bar.finish()
        Terminal.printError(String(format: "evaluated in %.1f s", Date().timeIntervalSince(started)))
        if let svg { try write(DeferralPlot.svg(report), to: svg) }
        if let html { try write(HTMLReport.html(report), to: html) }
        if let curveCsv { try write(report.curveCSV(), to: curveCsv) }
        if json {
            try JSONOutput.print(report)
        } else {
            printTables(report)
        }
    }

    /// The shares of `--learning-curve`, each in (0, 1].
    func shares() throws -> [Double] {
        let items = (learningCurve ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let values = items.map(Double.init)
        guard !items.isEmpty, values.allSatisfy({ $0.map { $0 > 0 && $0 <= 1 } ?? false }) else {
            throw ValidationError(
                "--learning-curve takes comma-separated shares in (0, 1], e.g. 0.125,0.25,0.5,1; got '\(learningCurve ?? "")'"
            )
        }
        return values.compactMap { $0 }
    }

    func printLearningCurve(_ curve: LearningCurve) {
        let costMode = curve.mode == "cost"
        print(
            "\(Terminal.bold("Learning curve")) \(curve.dataset.source), metric \(curve.dataset.metric), \(curve.mode)")
        print("  \(HTMLReport.protocolText(curve.protocol)), \(curve.dataset.prompts) prompts")
        print("")
        var table = TextTable(
            ["estimator", "share", "training prompts"]
                + (costMode ? ["gap recovered", "quality gain", "cost saving"] : ["gain over best", "quality (λ=0)"]))
        for e in curve.points[0].routers.indices {
            for (i, point) in curve.points.enumerated() {
                let r = point.routers[e].router
                let s = point.routers[e].std
                table.add(
                    [i == 0 ? r.estimator : "", Format.fixed(point.share), Format.fixed(point.trainPrompts, 0)]
                        + (costMode
                            ? [
                                Format.plusMinus(r.gapRecovered, s.gapRecovered),
                                Format.plusMinus(r.qualityGain, s.qualityGain),
                                Format.plusMinus(r.costSaving, s.costSaving),
                            ]
                            : [
                                Format.plusMinus(r.qualityGain, s.qualityGain),
                                Format.plusMinus(r.maxQuality, s.maxQuality),
                            ]))
            }
        }
        print(table.render())
        print("(mean ± std over the parts of one split)")
        if let gains = curve.gainPerDoubling {
            print("")
            print(
                "the last doubling of the training prompts added, per doubling (\(costMode ? "gap recovered" : "gain over best")):"
            )
            for (e, gain) in gains.enumerated() {
                print("  \(gain >= 0 ? "+" : "")\(Format.fixed(gain))  \(curve.points[0].routers[e].router.estimator)")
            }
        }
    }

    func write(_ text: String, to path: String) throws {
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw CommandFailure("cannot write \(path): \(error.localizedDescription)")
        }
    }

    func printTables(_ report: EvaluationReport) {
        let unit = report.dataset.costUnit.isEmpty ? "" : " (\(report.dataset.costUnit))"
        let costMode = report.mode == "cost"
        print(
            "\(Terminal.bold("Evaluation")) \(report.dataset.source), metric \(report.dataset.metric), \(report.mode)")
        print("  \(HTMLReport.protocolText(report)), \(report.dataset.prompts) prompts")
        print("")
        var generators = TextTable(costMode ? ["generator", "quality", "cost\(unit)"] : ["generator", "quality"])
        for g in report.generators.sorted(by: { $0.quality > $1.quality }).prefix(costMode ? 100 : 10) {
            generators.add(
                costMode
                    ? [g.generator, Format.fixed(g.quality), Format.fixed(g.cost)]
                    : [g.generator, Format.fixed(g.quality)])
        }
        print(generators.render())
        print("")
        let best = report.bestSingle
        print(
            "best single: \(Terminal.green(best.generator)) quality \(Format.fixed(best.quality))"
                + (costMode ? " cost \(Format.fixed(best.cost))" : ""))
        print(
            "oracle:      max quality \(Format.fixed(report.oracle.maxQuality))"
                + (costMode ? " area \(Format.fixed(report.oracle.area, 4))" : ""))
        if costMode { print("zero router: area \(Format.fixed(report.zeroRouter.area, 4))") }
        print("")
        let header =
            costMode
            ? ["estimator", "area", "gap recovered", "quality gain", "cost saving", "APGR", "AIQ"]
            : ["estimator", "quality (λ=0)", "gain over best", "share of oracle gain"]
        var routers = TextTable(header)
        for summary in report.routers {
            let r = summary.router
            let s = summary.std
            if costMode {
                routers.add([
                    r.estimator, Format.plusMinus(r.area, s.area, 4), Format.plusMinus(r.gapRecovered, s.gapRecovered),
                    Format.plusMinus(r.qualityGain, s.qualityGain),
                    r.costSaving == nil
                        ? "never"
                        : Format.plusMinus(r.costSaving, s.costSaving)
                            + " (\(summary.costSavingReached)/\(summary.folds.count))",
                    Format.plusMinus(r.apgr, s.apgr), Format.plusMinus(r.aiq, s.aiq, 4),
                ])
            } else {
                routers.add([
                    r.estimator, Format.plusMinus(r.maxQuality, s.maxQuality),
                    Format.plusMinus(r.qualityGain, s.qualityGain),
                    Format.plusMinus(r.oracleGainShare, s.oracleGainShare),
                ])
            }
        }
        print(routers.render())
        print("(mean ± std over \(report.folds.count) part\(report.folds.count == 1 ? "" : "s"))")
        // Shares of the strongest router say where prompts go; the mean baseline's would only repeat one column.
        let strongest = report.routers.max { a, b in
            costMode
                ? (a.router.gapRecovered ?? -.infinity) < (b.router.gapRecovered ?? -.infinity)
                : a.router.maxQuality < b.router.maxQuality
        }
        guard let strongest else { return }
        print("")
        print(
            "\(Terminal.bold("Routing shares")) of \(strongest.router.estimator) (best "
                + (costMode ? "gap recovered" : "quality") + ", first part):")
        var shares = TextTable(["budget\(unit)", "λ", "cost", "quality"] + report.dataset.generators.prefix(8))
        for share in strongest.shares {
            shares.add(
                [
                    share.budget.map { Format.fixed($0) } ?? "λ=0", Format.fixed(share.lambda, 4),
                    Format.fixed(share.cost),
                    Format.fixed(share.quality),
                ] + report.dataset.generators.prefix(8).map { Format.percent(share.shares[$0] ?? 0) })
        }
        print(shares.render())
    }
}
