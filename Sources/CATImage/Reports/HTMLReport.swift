import Foundation

/// A self-contained HTML page for an ``EvaluationReport``: the plot inline, the figures with their spreads,
/// per-generator routing shares at a few budgets and example prompts sent to each generator.
public enum HTMLReport {
    /// The complete document (no external resources).
    public static func html(_ report: EvaluationReport) -> String {
        let e = DeferralPlot.escape
        let costOnly = report.mode != "quality-only"
        let unit = report.dataset.costUnit.isEmpty ? "" : " (\(e(report.dataset.costUnit)))"
        var page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>CATImage evaluation: \(e(report.dataset.source))</title>
            <style>body{font-family:Helvetica,Arial,sans-serif;margin:2em;max-width:1100px;color:#222}
            table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
            th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}code{background:#f4f4f4;padding:1px 4px}
            .prompts li{margin:2px 0;max-width:1000px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;list-style-position:inside}svg{max-width:100%;height:auto;display:block}</style></head><body>
            <h1>Routing evaluation</h1>
            <p>Dataset <code>\(e(report.dataset.source))</code>, metric <code>\(e(report.dataset.metric))</code>,
            \(report.dataset.prompts) prompts, \(report.dataset.generators.count) generators; mode <b>\(report.mode)</b>;
            \(e(protocolText(report))).</p>

            """
        page += DeferralPlot.svg(report)
        if costOnly && report.folds.count > 1 {
            page +=
                "<p><small>The plot shows the first of the \(report.folds.count) test parts (curves and generator "
                + "points alike); the tables below average all parts.</small></p>\n"
        }
        page += "<h2>Generators</h2><table><tr><th>generator</th><th>mean quality</th>"
        page += costOnly ? "<th>mean cost (\(e(report.dataset.costUnit)))</th></tr>\n" : "</tr>\n"
        for g in report.generators.sorted(by: { $0.quality > $1.quality }) {
            page += "<tr><td>\(e(g.generator))</td><td>\(fixed(g.quality))</td>"
            page += costOnly ? "<td>\(fixed(g.cost))</td></tr>\n" : "</tr>\n"
        }
        page +=
            "</table>\n<p>Best single generator: <b>\(e(report.bestSingle.generator))</b> (quality \(fixed(report.bestSingle.quality))"
        page += costOnly ? ", cost \(fixed(report.bestSingle.cost))). " : "). "
        page += "Oracle: max quality \(fixed(report.oracle.maxQuality))"
        page +=
            costOnly
            ? ", area \(fixed(report.oracle.area)); zero router area \(fixed(report.zeroRouter.area)).</p>\n"
            : ".</p>\n"
        page += "<h2>Routers</h2><table><tr><th>estimator</th>"
        let columns =
            costOnly
            ? ["area", "gap recovered", "quality gain", "cost saving", "max quality", "APGR", "AIQ"]
            : ["quality (λ=0)", "quality gain", "share of oracle gain"]
        page += columns.map { "<th>\($0)</th>" }.joined() + "</tr>\n"
        // A spread over one part is no spread: show the figures alone then.
        let spread = report.folds.count > 1
        func pm(_ value: Double?, _ deviation: Double?) -> String {
            Self.pm(value, spread ? deviation : nil)
        }
        for summary in report.routers {
            let r = summary.router
            let s = summary.std
            let cells: [String] =
                costOnly
                ? [
                    pm(r.area, s.area), pm(r.gapRecovered, s.gapRecovered), pm(r.qualityGain, s.qualityGain),
                    pm(r.costSaving, s.costSaving), pm(r.maxQuality, s.maxQuality), pm(r.apgr, s.apgr),
                    pm(r.aiq, s.aiq),
                ]
                : [
                    pm(r.maxQuality, s.maxQuality), pm(r.qualityGain, s.qualityGain),
                    pm(r.oracleGainShare, s.oracleGainShare),
                ]
            page += "<tr><td>\(e(r.estimator))</td>" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>\n"
        }
        page +=
            spread
            ? "</table><p>Figures are means ± standard deviation over \(report.folds.count) parts.</p>\n"
            : "</table><p>Figures from one test part (no spread; evaluate on several folds or seeds for one).</p>\n"
        for summary in report.routers {
            page += "<h2>\(e(summary.router.estimator)): where prompts go</h2>\n"
            page +=
                report.dataset.generators.count > wideShareLimit
                ? tallShareTable(summary, report: report, unit: unit)
                : wideShareTable(summary, report: report, unit: unit)
            page +=
                "</table>\n<h3>Example prompts per generator (first part\(costOnly ? ", budget at half the cost range" : ", λ = 0"))</h3>\n"
            for generator in report.dataset.generators {
                guard let prompts = summary.examples[generator], !prompts.isEmpty else { continue }
                page += "<p><b>\(e(generator))</b></p><ul class=\"prompts\">"
                page += prompts.map { "<li>\(e($0))</li>" }.joined() + "</ul>\n"
            }
        }
        return page + "</body></html>\n"
    }

    /// Up to this many generators, the share table has one column per generator; beyond, one row per generator.
    static let wideShareLimit = 8

    static func percent(_ share: Double?) -> String { String(format: "%.1f%%", (share ?? 0) * 100) }

    /// One row per budget, one column per generator.
    static func wideShareTable(_ summary: EvaluationReport.RouterSummary, report: EvaluationReport, unit: String)
        -> String
    {
        let e = DeferralPlot.escape
        var table = "<table><tr><th>budget\(unit)</th><th>λ</th><th>cost\(unit)</th><th>quality</th>"
        table += report.dataset.generators.map { "<th>\(e($0))</th>" }.joined() + "</tr>\n"
        for share in summary.shares {
            table +=
                "<tr><td>\(share.budget.map { fixed($0) } ?? "none (λ = 0)")</td><td>\(fixed(share.lambda, 5))</td>"
            table += "<td>\(fixed(share.cost))</td><td>\(fixed(share.quality))</td>"
            table += report.dataset.generators.map { "<td>\(percent(share.shares[$0]))</td>" }.joined() + "</tr>\n"
        }
        return table
    }

    /// One column per budget, one row per generator (most chosen first): fits the page with many generators.
    static func tallShareTable(_ summary: EvaluationReport.RouterSummary, report: EvaluationReport, unit: String)
        -> String
    {
        let e = DeferralPlot.escape
        let shares = summary.shares
        var table = "<table><tr><th>budget\(unit)</th>"
        table += shares.map { "<th>\($0.budget.map { fixed($0) } ?? "none (λ = 0)")</th>" }.joined() + "</tr>\n"
        table += "<tr><td>λ</td>" + shares.map { "<td>\(fixed($0.lambda, 5))</td>" }.joined() + "</tr>\n"
        if report.mode != "quality-only" {
            table += "<tr><td>cost\(unit)</td>" + shares.map { "<td>\(fixed($0.cost))</td>" }.joined() + "</tr>\n"
        }
        table += "<tr><td>quality</td>" + shares.map { "<td>\(fixed($0.quality))</td>" }.joined() + "</tr>\n"
        let order = report.dataset.generators.enumerated().sorted { a, b in
            let (x, y) = (shares.first?.shares[a.element] ?? 0, shares.first?.shares[b.element] ?? 0)
            return x != y ? x > y : a.offset < b.offset
        }
        for (_, generator) in order {
            table +=
                "<tr><td>\(e(generator))</td>" + shares.map { "<td>\(percent($0.shares[generator]))</td>" }.joined()
                + "</tr>\n"
        }
        return table
    }

    /// The split protocol in words ("5-fold cross-validation (seed 0)").
    public static func protocolText(_ report: EvaluationReport) -> String { protocolText(report.protocol) }

    /// How the data was split, in words.
    public static func protocolText(_ info: EvaluationReport.ProtocolInfo) -> String {
        let share = info.trainShare.map { String(format: ", fitted on %g %% of each training part", $0 * 100) } ?? ""
        if let folds = info.folds {
            return "\(folds)-fold cross-validation (seed \(info.seeds.first ?? 0))" + share
        }
        return "train/test split, test fraction \(info.testFraction ?? 0), seeds "
            + info.seeds.map(String.init).joined(separator: ", ") + share
    }

    static func fixed(_ value: Double?, _ digits: Int = 4) -> String {
        value.map { String(format: "%.\(digits)f", $0) } ?? "–"
    }

    static func pm(_ value: Double?, _ spread: Double?) -> String {
        guard let value else { return "–" }
        return String(format: "%.4f", value) + (spread.map { String(format: " ± %.4f", $0) } ?? "")
    }
}
