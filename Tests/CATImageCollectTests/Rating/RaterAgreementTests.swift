import Testing

@testable import CATImageCollect

@Suite("Rater agreement: Krippendorff's alpha and pairwise Spearman")
struct RaterAgreementTests {
    /// Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four observers, twelve units,
    /// values 1–5 with missing data (`nil`). Rows are observers A–D.
    static let textbook: [[Int?]] = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nil, nil, nil],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nil, 3],
        [nil, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nil],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nil],
    ]

    static var textbookRecords: [RatingRecord] {
        textbook.enumerated().flatMap { observer, row in
            row.enumerated().compactMap { unit, value in
                value.map { RatingRecord(unit: Int64(unit), rater: "observer \(observer)", value: $0) }
            }
        }
    }

    static var textbookUnits: [[Double]] {
        (0..<12).map { unit in textbook.compactMap { $0[unit] }.map(Double.init) }
    }

    @Test(
        "alpha reproduces Krippendorff's worked example: nominal .743, ordinal .815, interval .849",
        arguments: [
            (RaterAgreement.Metric.nominal, 0.743), (.ordinal, 0.815), (.interval, 0.849),
        ])
    func textbookAlpha(metric: RaterAgreement.Metric, published: Double) throws {
        let alpha = try #require(RaterAgreement.krippendorffAlpha(units: Self.textbookUnits, metric: metric))
        #expect(abs(alpha - published) < 0.0005, "\(metric): \(alpha), published \(published)")
    }

    @Test("the worked example from rating records: 41 ratings, 11 pairable units holding the paper's n = 40 values")
    func textbookSummary() {
        let agreement = RaterAgreement(records: Self.textbookRecords)
        #expect(agreement.raters == 4)
        #expect(agreement.ratings == 41)
        // Unit 12 has one value only, so it is not pairable.
        #expect(agreement.pairableImages == 11)
        #expect(agreement.pairableRatings == 40)
        #expect(abs((agreement.alphaOrdinal ?? 0) - 0.8154) < 0.0005)
        #expect(abs((agreement.alphaInterval ?? 0) - 0.8491) < 0.0005)
    }

    @Test("alpha on a hand-checked three-unit table: 1 − 5·2/58 = 0.8276 (interval)")
    func handCheckedAlpha() throws {
        // Coincidences: o(1,1) = 2, o(2,3) = o(3,2) = 1, o(3,3) = 2; n1 = 2, n2 = 1, n3 = 3, n = 6.
        // Σ o δ² = 2; Σ n_c n_k δ² = 2·(2·1·1 + 2·3·4 + 1·3·1) = 58; α = 1 − (6 − 1)·2 / 58.
        let alpha = try #require(
            RaterAgreement.krippendorffAlpha(units: [[1, 1], [2, 3], [3, 3]], metric: .interval))
        #expect(abs(alpha - (1 - 10.0 / 58)) < 1e-12)
    }

    @Test("perfect agreement gives alpha 1; no variation or nothing pairable gives no alpha")
    func alphaEdges() {
        #expect(RaterAgreement.krippendorffAlpha(units: [[1, 1], [4, 4], [5, 5, 5]], metric: .ordinal) == 1)
        #expect(RaterAgreement.krippendorffAlpha(units: [[3, 3], [3, 3]], metric: .ordinal) == nil)
        #expect(RaterAgreement.krippendorffAlpha(units: [[3], [4], [5]], metric: .interval) == nil)
        #expect(RaterAgreement.krippendorffAlpha(units: [], metric: .interval) == nil)
    }

    @Test("Spearman with ties uses mean ranks: 4.5 / sqrt(4.5 · 5) = 0.9487")
    func spearmanTies() throws {
        // Ranks x = [1, 2.5, 2.5, 4], y = [1, 3, 2, 4]: covariance 4.5, sums of squares 4.5 and 5.
        let rho = try #require(RaterAgreement.spearman([1, 2, 2, 3], [1, 3, 2, 4]))
        #expect(abs(rho - 4.5 / (4.5 * 5.0).squareRoot()) < 1e-12)
        #expect(RaterAgreement.spearman([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]) == -1)
        #expect(RaterAgreement.spearman([2, 2, 2], [1, 2, 3]) == nil)
    }

    @Test("mean pairwise Spearman averages the rater pairs with 3 or more co-rated images")
    func meanPairwise() throws {
        // ann and bob agree in order on 4 images (rho 1); ann and cy are reversed on 3 (rho −1);
        // bob and cy share only 2 images, too few to count.
        var records: [RatingRecord] = []
        for (unit, value) in [(1, 1), (2, 2), (3, 4), (4, 5)] {
            records.append(RatingRecord(unit: Int64(unit), rater: "ann", value: value))
        }
        for (unit, value) in [(1, 2), (2, 3), (3, 4), (4, 5)] {
            records.append(RatingRecord(unit: Int64(unit), rater: "bob", value: value))
        }
        for (unit, value) in [(1, 5), (2, 4), (5, 1)] {
            records.append(RatingRecord(unit: Int64(unit), rater: "cy", value: value))
        }
        records.append(RatingRecord(unit: 5, rater: "ann", value: 3))
        let agreement = RaterAgreement(records: records)
        #expect(agreement.spearmanPairs == 2)
        let mean = try #require(agreement.meanPairwiseSpearman)
        #expect(abs(mean - 0) < 1e-12, "mean of +1 and −1")
        #expect(agreement.raters == 3)
        #expect(agreement.pairableImages == 5)
    }
}
