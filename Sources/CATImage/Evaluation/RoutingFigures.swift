import CATImageCore

/// One generator used for every prompt: its mean cost and mean true quality on the evaluated prompts.
public struct SingleGeneratorPoint: Sendable, Codable, Equatable {
    public var generator: String
    public var quality: Double
    public var cost: Double

    public init(generator: String, quality: Double, cost: Double) {
        self.generator = generator
        self.quality = quality
        self.cost = cost
    }
}

/// The reference curves of one evaluated part: single generators, zero router and oracle.
public struct ReferenceFigures: Sendable {
    /// Every generator's point, in generator order.
    public var singles: [SingleGeneratorPoint]
    /// The single generator with the highest mean quality (the cheaper one on a tie).
    public var bestSingle: SingleGeneratorPoint
    /// The upper convex hull of the single points.
    public var zeroRouterCurve: [CurvePoint]
    /// The λ-sweep with the true quality (and true per-prompt cost) as the estimate.
    public var oracleCurve: [CurvePoint]
    /// Cheapest and most expensive generator's mean cost: the range areas are averaged over.
    public var costRange: ClosedRange<Double>
    /// Area of the zero router.
    public var zeroRouterArea: Double
    /// Area of the oracle.
    public var oracleArea: Double
    /// Mean over prompts of the best true quality (the oracle at λ = 0).
    public var oracleMaxQuality: Double
    /// Quality of the cheapest generator (APGR's floor).
    public var cheapestQuality: Double

    /// The reference figures of prompts with true quality and realised cost `[N][M]`.
    public init(generators: [String], quality: [[Double]], cost: [[Double]]) {
        precondition(!quality.isEmpty && quality.count == cost.count, "need quality and cost for the same prompts")
        let meanQuality = quality.columnMeans(width: generators.count)
        let meanCost = cost.columnMeans(width: generators.count)
        singles = generators.indices.map { m in
            SingleGeneratorPoint(generator: generators[m], quality: meanQuality[m], cost: meanCost[m])
        }
        bestSingle = singles.max { a, b in a.quality != b.quality ? a.quality < b.quality : a.cost > b.cost }!
        let cheapest = singles.min { a, b in a.cost != b.cost ? a.cost < b.cost : a.quality < b.quality }!
        cheapestQuality = cheapest.quality
        costRange = cheapest.cost...(singles.map(\.cost).max() ?? cheapest.cost)
        zeroRouterCurve = DeferralCurve.upperHull(
            singles.map { CurvePoint(lambda: nil, cost: $0.cost, quality: $0.quality) })
        oracleCurve = DeferralCurve.sweep(predicted: quality, ruleCosts: cost, quality: quality, cost: cost)
        zeroRouterArea = DeferralCurve.area(
            of: zeroRouterCurve, lowCost: costRange.lowerBound, highCost: costRange.upperBound)
        oracleArea = DeferralCurve.area(of: oracleCurve, lowCost: costRange.lowerBound, highCost: costRange.upperBound)
        oracleMaxQuality = quality.reduce(0) { $0 + ($1.max() ?? 0) } / Double(quality.count)
    }
}

/// The figures of one router on one evaluated part (DESIGN.md, "Evaluation").
public struct RouterFigures: Sendable, Codable, Equatable {
    /// The estimator, as fitted (`knn(k=50)`, `auto → kernel(tau=0.05)`).
    public var estimator: String
    /// Area under the router's non-decreasing envelope, averaged over the generators' cost range.
    /// `nil` in quality-only mode.
    public var area: Double?
    /// `(area_router − area_zero) / (area_oracle − area_zero)`; `nil` in quality-only mode or when the
    /// oracle does not beat the zero router.
    public var gapRecovered: Double?
    /// Best quality on the router's curve − the best single generator's quality.
    public var qualityGain: Double
    /// `1 − (least cost reaching the best single quality) / (its cost)`; `nil` when never reached.
    public var costSaving: Double?
    /// Best quality on the router's curve (the λ = 0 quality in quality-only mode).
    public var maxQuality: Double
    /// RouteLLM-style average performance gap recovered: the mean over the cost range of
    /// `(envelope(c) − q_cheapest) / (q_best − q_cheapest)`, where `q_cheapest` is the cheapest generator's
    /// quality and `q_best` the best single generator's; `nil` when those coincide or in quality-only mode.
    public var apgr: Double?
    /// RouterBench-style average improvement in quality: the mean over the cost range of the
    /// non-decreasing *convex hull* of the router's points (mixing λ policies), in quality units.
    public var aiq: Double?
    /// Share of the oracle's gain over the best single generator that the router gets at λ = 0:
    /// `(q_router(0) − q_best) / (q_oracle − q_best)`.
    public var oracleGainShare: Double?

    public init(
        estimator: String, area: Double?, gapRecovered: Double?, qualityGain: Double, costSaving: Double?,
        maxQuality: Double, apgr: Double?, aiq: Double?, oracleGainShare: Double?
    ) {
        self.estimator = estimator
        self.area = area
        self.gapRecovered = gapRecovered
        self.qualityGain = qualityGain
        self.costSaving = costSaving
        self.maxQuality = maxQuality
        self.apgr = apgr
        self.aiq = aiq
        self.oracleGainShare = oracleGainShare
    }

    /// `value`, with magnitudes below 1e-12 set to exactly 0.
    static func clean(_ value: Double) -> Double { abs(value) < 1e-12 ? 0 : value }

    /// The figures of a router curve against the reference curves.
    ///
    /// - Parameters:
    ///   - curve: the router's λ-sweep.
    ///   - qualityAtZero: the router's mean true quality at λ = 0.
    ///   - qualityOnly: the dataset has no cost: only λ = 0 figures.
    public init(
        estimator: String, curve: [CurvePoint], qualityAtZero: Double, reference: ReferenceFigures,
        qualityOnly: Bool
    ) {
        let best = reference.bestSingle
        let oracleGain = reference.oracleMaxQuality - best.quality
        let share = oracleGain > 1e-12 ? (qualityAtZero - best.quality) / oracleGain : nil
        if qualityOnly {
            self.init(
                estimator: estimator, area: nil, gapRecovered: nil, qualityGain: qualityAtZero - best.quality,
                costSaving: nil, maxQuality: qualityAtZero, apgr: nil, aiq: nil, oracleGainShare: share)
            return
        }
        let low = reference.costRange.lowerBound
        let high = reference.costRange.upperBound
        let area = DeferralCurve.area(of: curve, lowCost: low, highCost: high)
        let span = reference.oracleArea - reference.zeroRouterArea
        let maxQuality = curve.map(\.quality).max() ?? qualityAtZero
        let reach = DeferralCurve.leastCost(of: curve, reaching: best.quality)
        let floor = reference.cheapestQuality
        self.init(
            estimator: estimator, area: area,
            gapRecovered: span > 1e-12 ? Self.clean((area - reference.zeroRouterArea) / span) : nil,
            qualityGain: maxQuality - best.quality,
            // Rounding noise (1 − c/c) must not print as −0.000.
            costSaving: reach.flatMap { best.cost > 0 ? Self.clean(1 - $0 / best.cost) : nil },
            maxQuality: maxQuality,
            apgr: best.quality - floor > 1e-12 ? (area - floor) / (best.quality - floor) : nil,
            aiq: DeferralCurve.area(of: DeferralCurve.upperHull(curve), lowCost: low, highCost: high),
            oracleGainShare: share)
    }
}

extension RouterFigures {
    /// Encodes absent figures as `null` so every field name is always present.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(estimator, forKey: .estimator)
        try container.encode(area, forKey: .area)
        try container.encode(gapRecovered, forKey: .gapRecovered)
        try container.encode(qualityGain, forKey: .qualityGain)
        try container.encode(costSaving, forKey: .costSaving)
        try container.encode(maxQuality, forKey: .maxQuality)
        try container.encode(apgr, forKey: .apgr)
        try container.encode(aiq, forKey: .aiq)
        try container.encode(oracleGainShare, forKey: .oracleGainShare)
    }
}
