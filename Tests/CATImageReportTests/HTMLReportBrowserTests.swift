import CATImage
import CATImageCore
import CATImageEncoder
import Foundation
import Testing

/// The HTML report as a user sees it: rendered by a real headless Chromium from a report made on real CEMS
/// prompts with real MiniLM features.
@Suite("HTML report in a headless browser")
struct HTMLReportBrowserTests {
    @Test("Chromium renders the report offline: the plot with its curves, the routers' figures, shares and prompts")
    func chromiumRendersReport() async throws {
        let chromium = try ChromiumRunner.locate()
        // Seconds of embedding and 5-fold fitting: on a thread of its own, not the pool the other suites' servers use.
        let fixture = try await onOwnThread { try ReportFixture.shared.get() }
        let report = fixture.report
        let folder = try TemporaryFolder()
        let page = folder.path("report.html")
        try HTMLReport.html(report).write(toFile: page, atomically: true, encoding: .utf8)

        let netLog = folder.path("netlog.json")
        let dom = try await onOwnThread { try chromium.dumpDOM(of: page, netLog: netLog) }
        let document = RenderedDocument(dom)

        // The plot: an inline <svg> with the oracle, the zero router and one curve per router, the legend naming
        // each router and a marker labelled with each generator.
        let svg = try #require(document.firstElement("svg"), "the rendered page holds no <svg> plot")
        let polylines = RenderedDocument.elements("polyline", in: svg)
        #expect(polylines.count == report.routers.count + 2, "curves: \(polylines.count)")
        for line in polylines {
            let points = RenderedDocument.attribute("points", of: line)?.split(separator: " ") ?? []
            #expect(points.count >= 2, "a curve with \(points.count) points: \(line.prefix(200))")
        }
        let svgTexts = RenderedDocument.elementTexts("text", in: svg)
        for name in ["oracle", "zero router"] + report.routers.map(\.router.estimator) + report.dataset.generators {
            #expect(svgTexts.contains(name), "the plot has no label '\(name)'; labels: \(svgTexts)")
        }
        let markers = RenderedDocument.elements("circle", in: svg).compactMap { circle -> (Double, Double)? in
            guard let x = RenderedDocument.attribute("cx", of: circle).flatMap(Double.init),
                let y = RenderedDocument.attribute("cy", of: circle).flatMap(Double.init)
            else { return nil }
            return (x, y)
        }
        #expect(markers.count == report.generators.count)
        // The zero router's hull (the black dotted line) joins generator markers: curves and points agree.
        let zeroRouter = try #require(polylines.first { RenderedDocument.attribute("stroke", of: $0) == "#000" })
        let hull = (RenderedDocument.attribute("points", of: zeroRouter) ?? "").split(separator: " ").compactMap {
            point -> (Double, Double)? in
            let xy = point.split(separator: ",").compactMap { Double($0) }
            return xy.count == 2 ? (xy[0], xy[1]) : nil
        }
        for end in [hull.first, hull.last].compactMap({ $0 }) {
            #expect(
                markers.contains { abs($0.0 - end.0) < 0.2 && abs($0.1 - end.1) < 0.2 },
                "the zero router's end \(end) is on no generator marker \(markers)")
        }

        // The routers' table: one row per estimator with its figures formatted as in the report.
        let rows = document.tableRows()
        let routersHeader = try #require(
            rows.first { $0.first == "estimator" }, "no routers table with an 'estimator' header")
        let gapColumn = try #require(routersHeader.firstIndex(of: "gap recovered"))
        for summary in report.routers {
            let row = try #require(
                rows.first { $0.first == summary.router.estimator }, "no row for \(summary.router.estimator)")
            let gap = try #require(summary.router.gapRecovered, "CEMS has costs, so gap recovered is defined")
            let expected =
                String(format: "%.4f", gap) + (summary.std.gapRecovered.map { String(format: " ± %.4f", $0) } ?? "")
            #expect(row[gapColumn] == expected, "\(summary.router.estimator): \(row)")
            let area = try #require(summary.router.area)
            #expect(row[1].hasPrefix(String(format: "%.4f", area)), "area cell \(row[1])")
        }
        // The generators' table and the best single generator.
        for generator in report.generators {
            let row = try #require(rows.first { $0.first == generator.generator && $0.count == 3 })
            #expect(row[1] == String(format: "%.4f", generator.quality))
            #expect(row[2] == String(format: "%.4f", generator.cost))
        }
        #expect(document.text.contains("Best single generator: \(report.bestSingle.generator)"))

        // Per-generator shares: each router's table, its unconstrained row first, shares summing to 100 %.
        let unit = " (\(report.dataset.costUnit))"
        let shareHeader = ["budget" + unit, "λ", "cost" + unit, "quality"] + report.dataset.generators
        let shareTables = rows.indices.filter { rows[$0] == shareHeader }
        #expect(shareTables.count == report.routers.count, "share tables: \(shareTables.count)")
        for (summary, start) in zip(report.routers, shareTables) {
            let tableRows = Array(rows[(start + 1)...].prefix(summary.shares.count))
            #expect(tableRows.count == summary.shares.count)
            for (share, row) in zip(summary.shares, tableRows) {
                let cells = report.dataset.generators.map {
                    String(format: "%.1f%%", (share.shares[$0] ?? 0) * 100)
                }
                #expect(Array(row.suffix(cells.count)) == cells, "\(summary.router.estimator) shares \(row)")
                let total = row.suffix(cells.count).compactMap { Double($0.dropLast()) }.reduce(0, +)
                #expect(abs(total - 100) < 0.3, "shares add up to \(total) %")
            }
            #expect(tableRows.first?.first == "none (λ = 0)")
        }

        // Example prompts: every example the report chose is a list item on the page, under its generator.
        let items = document.listItems()
        var exampleCount = 0
        for summary in report.routers {
            for (generator, prompts) in summary.examples {
                #expect(document.text.contains(generator))
                for prompt in prompts {
                    exampleCount += 1
                    let shown = prompt.replacingOccurrences(of: "\r\n", with: "\n")
                    #expect(items.contains(shown), "example prompt not on the page: \(prompt)")
                }
            }
        }
        #expect(exampleCount >= report.routers.count, "the report shows too few example prompts")

        // Offline: nothing on the page points at the network, and Chromium's network log holds no request.
        let links = document.attributeValues(["src", "href", "xlink:href", "action"])
        let remote = links.filter {
            $0.lowercased().hasPrefix("http:") || $0.lowercased().hasPrefix("https:") || $0.hasPrefix("//")
        }
        #expect(remote.isEmpty, "remote resources: \(remote)")
        #expect(!dom.lowercased().contains("url(http"), "a stylesheet loads a remote resource")
        let requests = try ChromiumRunner.networkRequests(inNetLog: netLog)
        #expect(requests.isEmpty, "the page made network requests: \(requests)")

        // For a look at the page: CATIMAGE_REPORT_SCREENSHOT=/some/folder keeps the page and a screenshot.
        if let keep = ProcessInfo.processInfo.environment["CATIMAGE_REPORT_SCREENSHOT"], !keep.isEmpty {
            try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
            let kept = (keep as NSString).appendingPathComponent("report.html")
            try? FileManager.default.removeItem(atPath: kept)
            try FileManager.default.copyItem(atPath: page, toPath: kept)
            try chromium.screenshot(of: kept, to: (keep as NSString).appendingPathComponent("report.png"))
        }
    }

    @Test("the offline checks catch a page that loads a remote image")
    func offlineCheckCatchesRequests() async throws {
        let chromium = try ChromiumRunner.locate()
        let folder = try TemporaryFolder()
        let page = folder.path("remote.html")
        // Port 9 (discard) on the loopback address: the request is made and refused, nothing leaves the machine.
        let remote = "http://127.0.0.1:9/plot.png"
        try "<!DOCTYPE html><html><body><p>x</p><img src=\"\(remote)\"></body></html>".write(
            toFile: page, atomically: true, encoding: .utf8)
        let netLog = folder.path("netlog.json")
        let document = RenderedDocument(try await onOwnThread { try chromium.dumpDOM(of: page, netLog: netLog) })
        #expect(document.attributeValues(["src", "href"]) == [remote])
        #expect(try ChromiumRunner.networkRequests(inNetLog: netLog) == [remote])
    }
}

/// An evaluation report on the first 600 CEMS prompts (CLIP score), MiniLM features, three estimators,
/// 5-fold cross-validation; built once.
struct ReportFixture: Sendable {
    let report: EvaluationReport

    static let shared: Result<ReportFixture, FixtureError> = Result { try ReportFixture() }.mapError {
        $0 as? FixtureError ?? FixtureError("\($0)")
    }

    init() throws {
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let modelDirectory = ModelStore.defaultModelDirectory
        let encoder: SentenceEncoder
        do {
            encoder = try SentenceEncoder(directory: modelDirectory)
        } catch {
            throw FixtureError(
                "cannot load MiniLM from \(modelDirectory): \(error). Run `catimage model fetch` (or set "
                    + "CATIMAGE_MODEL_DIR to a sentence-transformers all-MiniLM-L6-v2 folder).")
        }
        let folder = (DatasetLocation.directory(relativeTo: packageRoot) as NSString).appendingPathComponent("cems")
        var loadReport = DatasetLoadReport()
        let full: RoutingDataset
        do {
            full = try RoutingDataset.loadCEMS(directory: folder, metric: "clip", report: &loadReport)
        } catch {
            throw FixtureError(
                "cannot load CEMS from \(folder): \(error). Set CATIMAGE_DATASETS or run `catimage dataset fetch cems`."
            )
        }
        let dataset = full.subset(Array(0..<min(600, full.promptCount)))
        let features = encoder.encode(dataset.prompts.map(\.text))
        let estimators = try EstimatorSpec.parseList("knn:k=25,kernel:tau=0.05,ridge:alpha=10")
        report = try RouterEvaluation.run(
            dataset: dataset, features: features, estimators: estimators, split: .folds(5, seed: 0))
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
