/// The result of `catimage evaluate`: stable field names for `--json` (see issue 4).
///
/// Top-level `bestSingle`, `oracle`, `zeroRouter`, `router`, `curve`, `folds` and `std` describe the first
/// estimator evaluated; `routers` holds the same figures for every estimator when several are compared.
/// Figures are means over parts (folds or seeds); `std` holds their sample standard deviations.
public struct EvaluationReport: Sendable, Codable {
    /// What was evaluated.
    public struct DatasetInfo: Sendable, Codable, Equatable {
        public var source: String
        public var metric: String
        public var costUnit: String
        public var prompts: Int
        public var generators: [String]
    }

    /// How the data was split.
    public struct ProtocolInfo: Sendable, Codable, Equatable {
        /// `folds` or `split`.
        public var kind: String
        public var folds: Int?
        public var testFraction: Double?
        public var seeds: [UInt64]
        /// The share of each training part fitted on (`nil`: all of it), for a learning curve.
        public var trainShare: Double? = nil
    }

    /// The oracle's figures.
    public struct OracleSummary: Sendable, Codable, Equatable {
        /// `nil` in quality-only mode.
        public var area: Double?
        public var maxQuality: Double

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(area, forKey: .area)
            try container.encode(maxQuality, forKey: .maxQuality)
        }
    }

    /// The zero router's figures.
    public struct ZeroRouterSummary: Sendable, Codable, Equatable {
        /// `nil` in quality-only mode.
        public var area: Double?

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(area, forKey: .area)
        }
    }

    /// Where a router sends prompts at one budget.
    public struct BudgetShare: Sendable, Codable, Equatable {
        /// The mean-cost budget (`nil` for the unconstrained λ = 0 router).
        public var budget: Double?
        /// The λ whose curve point is best within the budget.
        public var lambda: Double
        /// Mean realised cost and quality at that λ.
        public var cost: Double
        public var quality: Double
        /// Share of prompts sent to each generator, in generator order.
        public var shares: [String: Double]
    }

    /// One part (fold or seed) of the evaluation.
    public struct Fold: Sendable, Codable {
        public var index: Int
        public var seed: UInt64
        public var trainCount: Int
        public var testCount: Int
        public var bestSingle: SingleGeneratorPoint
        public var oracle: OracleSummary
        public var zeroRouter: ZeroRouterSummary
        public var router: RouterFigures
        /// Each generator's mean quality and cost on this part's test prompts (the points the plot draws
        /// beside the first part's curves); absent in reports written before it was added.
        public var generators: [SingleGeneratorPoint]? = nil
    }

    /// Standard deviations over parts of every figure (`nil` where a figure is absent).
    public struct Spread: Sendable, Codable, Equatable {
        public var area: Double?
        public var gapRecovered: Double?
        public var qualityGain: Double?
        public var costSaving: Double?
        public var maxQuality: Double?
        public var apgr: Double?
        public var aiq: Double?
        public var oracleGainShare: Double?
        public var oracleArea: Double?
        public var zeroRouterArea: Double?
        public var bestSingleQuality: Double?
    }

    /// Every figure of one estimator.
    public struct RouterSummary: Sendable, Codable {
        /// Means over parts.
        public var router: RouterFigures
        /// Standard deviations over parts.
        public var std: Spread
        /// The deferral curve of the first part (at most 400 points).
        public var curve: [CurvePoint]
        /// Per-part figures.
        public var folds: [RouterFigures]
        /// Routing shares at a few budgets, on the first part.
        public var shares: [BudgetShare]
        /// Up to five test prompts the router sends to each generator (first part, middle budget).
        public var examples: [String: [String]]
        /// Number of parts in which the curve reached the best single generator's quality.
        public var costSavingReached: Int
    }

    public var dataset: DatasetInfo
    /// `cost` (full deferral curves) or `quality-only` (no cost in the data: λ = 0 figures).
    public var mode: String
    public var `protocol`: ProtocolInfo
    /// Every generator's mean point over parts.
    public var generators: [SingleGeneratorPoint]
    public var bestSingle: SingleGeneratorPoint
    public var oracle: OracleSummary
    public var zeroRouter: ZeroRouterSummary
    public var router: RouterFigures
    public var curve: [CurvePoint]
    public var folds: [Fold]
    public var std: Spread
    public var shares: [BudgetShare]
    public var routers: [RouterSummary]
    /// The oracle's curve and the zero router's hull on the first part (for plots).
    public var oracleCurve: [CurvePoint]
    public var zeroRouterCurve: [CurvePoint]
}
