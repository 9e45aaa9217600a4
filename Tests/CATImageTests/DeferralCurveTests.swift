import CATImage
import Testing

/// Two prompts, two generators A (cost 1) and B (cost 3), worked out by hand:
/// prompt 1: q_A = 1, q_B = 3; prompt 2: q_A = 2, q_B = 2.
/// Singles: A = (1, 1.5), B = (3, 2.5) → zero router is the line between them, area (1.5 + 2.5) / 2 = 2.
/// Oracle: λ = 0 sends prompt 1 to B and prompt 2 to A (tie → cheaper): (2, 2.5); from λ = 1 all to A: (1, 1.5).
/// Its envelope rises linearly from 1.5 at cost 1 to 2.5 at cost 2, then stays flat: area (2 + 2.5) / 2 = 2.25.
struct HandExample {
    let quality: [[Double]] = [[1, 3], [2, 2]]
    let cost: [[Double]] = [[1, 3], [1, 3]]
    let ruleCosts: [[Double]] = [[1, 3], [1, 3]]
    var reference: ReferenceFigures { ReferenceFigures(generators: ["A", "B"], quality: quality, cost: cost) }

    func figures(predicted: [[Double]]) -> (curve: [CurvePoint], figures: RouterFigures) {
        let curve = DeferralCurve.sweep(predicted: predicted, ruleCosts: ruleCosts, quality: quality, cost: cost)
        let choices = DeferralCurve.choices(predicted: predicted, ruleCosts: ruleCosts, lambda: 0)
        let atZero = (quality[0][choices[0]] + quality[1][choices[1]]) / 2
        return (
            curve,
            RouterFigures(
                estimator: "hand", curve: curve, qualityAtZero: atZero, reference: reference, qualityOnly: false)
        )
    }
}

@Suite("Deferral curve and figures")
struct DeferralCurveTests {
    @Test("λ = 0 picks the best predicted generator; a large λ picks the cheapest")
    func ruleExtremes() {
        let predicted = [0.2, 0.9, 0.5]
        let costs = [2.0, 5.0, 1.0]
        #expect(RoutingRule.choose(predicted: predicted, costs: costs, lambda: 0) == 1)
        #expect(RoutingRule.choose(predicted: predicted, costs: costs, lambda: 100) == 2)
        // Between the two: 0.9 − 5λ vs 0.5 − λ cross at λ = 0.1.
        #expect(RoutingRule.choose(predicted: predicted, costs: costs, lambda: 0.09) == 1)
        #expect(RoutingRule.choose(predicted: predicted, costs: costs, lambda: 0.11) == 2)
        // A tie goes to the cheaper generator.
        #expect(RoutingRule.choose(predicted: [1, 1], costs: [3, 1], lambda: 0) == 1)
    }

    @Test("the sweep's points are the λ breakpoints, from λ = 0 to all-cheapest")
    func sweepBreakpoints() {
        let example = HandExample()
        let curve = DeferralCurve.sweep(
            predicted: example.quality, ruleCosts: example.ruleCosts, quality: example.quality, cost: example.cost)
        #expect(curve == [CurvePoint(lambda: 0, cost: 2, quality: 2.5), CurvePoint(lambda: 1, cost: 1, quality: 1.5)])
    }

    @Test("zero router and oracle areas match the hand computation")
    func referenceAreas() {
        let reference = HandExample().reference
        #expect(reference.bestSingle.generator == "B")
        #expect(abs(reference.zeroRouterArea - 2.0) < 1e-9)
        #expect(abs(reference.oracleArea - 2.25) < 1e-9)
        #expect(abs(reference.oracleMaxQuality - 2.5) < 1e-12)
    }

    @Test("a router ranking like the oracle recovers the whole gap and saves a third of the cost")
    func perfectRouter() {
        // Predictions differ from the truth but order the λ breakpoints the same way.
        let (curve, figures) = HandExample().figures(predicted: [[2, 2.5], [2, 2.2]])
        #expect(curve.map(\.cost) == [3, 2, 1])
        #expect(abs((figures.area ?? 0) - 2.25) < 1e-9)
        #expect(abs((figures.gapRecovered ?? 0) - 1) < 1e-9)
        #expect(abs(figures.qualityGain) < 1e-12)
        // Reaches B's quality 2.5 at cost 2 instead of 3.
        #expect(abs((figures.costSaving ?? 0) - 1.0 / 3.0) < 1e-12)
        // APGR: (2.25 − 1.5) / (2.5 − 1.5).
        #expect(abs((figures.apgr ?? 0) - 0.75) < 1e-9)
        #expect(abs((figures.aiq ?? 0) - 2.25) < 1e-9)
    }

    @Test("a router ranking the wrong prompts first loses the whole gap again")
    func wrongRouter() {
        // Prompt 1 leaves B first (λ = 0.05), prompt 2 later (λ = 0.2): points (3, 2.5), (2, 1.5), (1, 1.5).
        // Envelope: flat 1.5 on [1, 2], then the line to 2.5 at cost 3: area (1.5 + 2) / 2 = 1.75.
        let (curve, figures) = HandExample().figures(predicted: [[2, 2.1], [2, 2.4]])
        #expect(curve.count == 3)
        #expect(abs((figures.area ?? 0) - 1.75) < 1e-9)
        #expect(abs((figures.gapRecovered ?? 0) - -1) < 1e-9)
        // Only the all-B point reaches 2.5: no saving.
        #expect(abs(figures.costSaving ?? 1) < 1e-12)
    }

    @Test("cost saving is absent when the curve never reaches the best single quality")
    func costSavingAbsent() {
        let curve = [CurvePoint(lambda: 0, cost: 2, quality: 2), CurvePoint(lambda: 1, cost: 1, quality: 1.5)]
        #expect(DeferralCurve.leastCost(of: curve, reaching: 2.5) == nil)
        #expect(DeferralCurve.leastCost(of: curve, reaching: 1.75) == 1.5)
    }

    @Test("the upper hull drops points under the chord")
    func hull() {
        let points = [(1.0, 1.0), (2.0, 1.2), (3.0, 3.0), (2.5, 2.9)].map {
            CurvePoint(lambda: nil, cost: $0.0, quality: $0.1)
        }
        let hull = DeferralCurve.upperHull(points)
        #expect(hull.map(\.cost) == [1, 2.5, 3])
    }
}
