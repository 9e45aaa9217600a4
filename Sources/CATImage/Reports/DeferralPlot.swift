import Foundation

/// An SVG plot of an ``EvaluationReport``: router deferral curves, the oracle, the zero-router hull and the
/// single generators, with labelled axes (cost in the dataset's unit, quality in its metric).
///
/// In quality-only mode (no cost) it draws bars: each generator, each router at λ = 0 and the oracle.
public enum DeferralPlot {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]

    /// The complete SVG document.
    public static func svg(_ report: EvaluationReport, width: Double = 960, height: Double = 560) -> String {
        report.mode == "quality-only"
            ? bars(report, width: width, height: height) : curves(report, width: width, height: height)
    }

    static func curves(_ report: EvaluationReport, width: Double, height: Double) -> String {
        let left = 70.0
        // The legend sits right of the plot, wide enough for the longest estimator name.
        let longest = report.routers.map(\.router.estimator.count).max() ?? 0
        let right = max(200.0, Double(longest) * 6.5 + 60)
        let width = max(width, right + 460)
        let top = 40.0
        let bottom = 60.0
        // The curves are the first part's, so the generator points are too (when the report has them): the
        // zero router's hull then passes through them.
        let singles = report.folds.first?.generators ?? report.generators
        var points = singles.map { CurvePoint(lambda: nil, cost: $0.cost, quality: $0.quality) }
        points += report.oracleCurve + report.zeroRouterCurve + report.routers.flatMap(\.curve)
        let xs = niceRange(points.map(\.cost))
        let ys = niceRange(points.map(\.quality))
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        func x(_ c: Double) -> Double { left + (c - xs.low) / (xs.high - xs.low) * plotWidth }
        func y(_ q: Double) -> Double { top + (1 - (q - ys.low) / (ys.high - ys.low)) * plotHeight }
        func path(_ curve: [CurvePoint]) -> String {
            curve.sorted { $0.cost < $1.cost }.map { "\(f(x($0.cost))),\(f(y($0.quality)))" }.joined(separator: " ")
        }
        let part = report.folds.count > 1 ? " (test part 1 of \(report.folds.count))" : ""
        var svg = header(width: width, height: height)
        svg += axes(
            xs: xs, ys: ys, x: x, y: y, left: left, top: top, plotWidth: plotWidth, plotHeight: plotHeight,
            xLabel: "mean cost per prompt" + (report.dataset.costUnit.isEmpty ? "" : " (\(report.dataset.costUnit))"),
            yLabel: "mean quality (\(escape(report.dataset.metric)))")
        var legend: [(String, String, String)] = []
        svg +=
            "<polyline fill=\"none\" stroke=\"#555\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\" points=\"\(path(report.oracleCurve))\"/>\n"
        legend.append(("oracle", "#555", "6 4"))
        svg +=
            "<polyline fill=\"none\" stroke=\"#000\" stroke-width=\"1.5\" stroke-dasharray=\"2 3\" points=\"\(path(report.zeroRouterCurve))\"/>\n"
        legend.append(("zero router", "#000", "2 3"))
        for (index, router) in report.routers.enumerated() {
            let color = palette[index % palette.count]
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path(router.curve))\"/>\n"
            legend.append((router.router.estimator, color, ""))
        }
        // Generator markers and labels go on top of the curves; a white halo keeps a label readable where a
        // curve passes under it.
        let halo = " stroke=\"#fff\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\""
        for single in singles {
            svg +=
                "<circle cx=\"\(f(x(single.cost)))\" cy=\"\(f(y(single.quality)))\" r=\"4.5\" fill=\"#fff\" stroke=\"#000\" stroke-width=\"1.5\"/>\n"
            svg +=
                "<text x=\"\(f(x(single.cost) + 7))\" y=\"\(f(y(single.quality) - 7))\" font-size=\"12\"\(halo)>\(escape(single.generator))</text>\n"
        }
        for (index, entry) in legend.enumerated() {
            let ly = top + 10 + Double(index) * 20
            let lx = width - right + 15
            let dash = entry.2.isEmpty ? "" : " stroke-dasharray=\"\(entry.2)\""
            svg +=
                "<line x1=\"\(f(lx))\" y1=\"\(f(ly))\" x2=\"\(f(lx + 24))\" y2=\"\(f(ly))\" stroke=\"\(entry.1)\" stroke-width=\"2\"\(dash)/>\n"
            svg += "<text x=\"\(f(lx + 30))\" y=\"\(f(ly + 4))\" font-size=\"11\">\(escape(entry.0))</text>\n"
        }
        svg +=
            "<text x=\"\(f(left))\" y=\"22\" font-size=\"14\" font-weight=\"bold\">Deferral curves\(part): \(escape(report.dataset.source))</text>\n"
        return svg + "</svg>\n"
    }

    static func bars(_ report: EvaluationReport, width: Double, height: Double) -> String {
        var entries = report.generators.map { ($0.generator, $0.quality, "#999") }
        entries.sort { $0.1 > $1.1 }
        entries = Array(entries.prefix(12))
        let shown =
            report.generators.count > entries.count
            ? "; the \(entries.count) best of \(report.generators.count) generators" : ""
        for (index, router) in report.routers.enumerated() {
            entries.insert(
                ("router " + router.router.estimator, router.router.maxQuality, palette[index % palette.count]), at: 0)
        }
        entries.insert(("oracle", report.oracle.maxQuality, "#555"), at: 0)
        let left = 220.0
        let top = 40.0
        let rowHeight = min(26.0, (height - top - 50) / Double(entries.count))
        let values = entries.map(\.1)
        let range = niceRange(values)
        let low = max(range.low, (values.min() ?? 0) - (range.high - range.low) * 0.5)
        let plotWidth = width - left - 80
        func x(_ q: Double) -> Double { left + (q - low) / (range.high - low) * plotWidth }
        var svg = header(width: width, height: top + Double(entries.count) * rowHeight + 50)
        for (index, entry) in entries.enumerated() {
            let yy = top + Double(index) * rowHeight
            svg +=
                "<rect x=\"\(f(left))\" y=\"\(f(yy + 3))\" width=\"\(f(max(1, x(entry.1) - left)))\" height=\"\(f(rowHeight - 6))\" fill=\"\(entry.2)\"/>\n"
            svg +=
                "<text x=\"\(f(left - 6))\" y=\"\(f(yy + rowHeight / 2 + 4))\" font-size=\"11\" text-anchor=\"end\">\(escape(entry.0))</text>\n"
            svg +=
                "<text x=\"\(f(x(entry.1) + 4))\" y=\"\(f(yy + rowHeight / 2 + 4))\" font-size=\"11\">\(String(format: "%.3f", entry.1))</text>\n"
        }
        let axisY = top + Double(entries.count) * rowHeight + 20
        svg +=
            "<text x=\"\(f(left))\" y=\"\(f(axisY + 10))\" font-size=\"12\">mean quality (\(escape(report.dataset.metric))) at λ = 0; axis starts at \(String(format: "%.2f", low))\(shown)</text>\n"
        svg +=
            "<text x=\"\(f(left))\" y=\"22\" font-size=\"14\" font-weight=\"bold\">Quality-only evaluation: \(escape(report.dataset.source))</text>\n"
        return svg + "</svg>\n"
    }

    static func header(width: Double, height: Double) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\" font-family=\"Helvetica, Arial, sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
    }

    static func axes(
        xs: (low: Double, high: Double, step: Double), ys: (low: Double, high: Double, step: Double),
        x: (Double) -> Double, y: (Double) -> Double, left: Double, top: Double, plotWidth: Double,
        plotHeight: Double, xLabel: String, yLabel: String
    ) -> String {
        var svg =
            "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\" stroke=\"#333\"/>\n"
        var tick = xs.low
        while tick <= xs.high + xs.step * 1e-6 {
            svg +=
                "<line x1=\"\(f(x(tick)))\" y1=\"\(f(top))\" x2=\"\(f(x(tick)))\" y2=\"\(f(top + plotHeight))\" stroke=\"#eee\"/>\n"
            svg +=
                "<text x=\"\(f(x(tick)))\" y=\"\(f(top + plotHeight + 16))\" font-size=\"11\" text-anchor=\"middle\">\(label(tick, xs.step))</text>\n"
            tick += xs.step
        }
        tick = ys.low
        while tick <= ys.high + ys.step * 1e-6 {
            svg +=
                "<line x1=\"\(f(left))\" y1=\"\(f(y(tick)))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(y(tick)))\" stroke=\"#eee\"/>\n"
            svg +=
                "<text x=\"\(f(left - 6))\" y=\"\(f(y(tick) + 4))\" font-size=\"11\" text-anchor=\"end\">\(label(tick, ys.step))</text>\n"
            tick += ys.step
        }
        svg +=
            "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(top + plotHeight + 40))\" font-size=\"12\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        svg +=
            "<text transform=\"translate(\(f(left - 50)),\(f(top + plotHeight / 2))) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        return svg
    }

    /// A range covering `values` with round tick steps (about 6 ticks).
    static func niceRange(_ values: [Double]) -> (low: Double, high: Double, step: Double) {
        var low = values.min() ?? 0
        var high = values.max() ?? 1
        if high - low < 1e-9 {
            low -= 0.5
            high += 0.5
        }
        let raw = (high - low) / 6
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        return (floor(low / step) * step, ceil(high / step) * step, step)
    }

    static func label(_ value: Double, _ step: Double) -> String {
        let digits = max(0, Int(-floor(log10(step))) + 1)
        return String(format: "%.\(digits)f", value)
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    /// Escapes text for XML and HTML.
    public static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
