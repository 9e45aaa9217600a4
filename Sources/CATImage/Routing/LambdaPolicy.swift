/// How a router picks its default λ.
public enum LambdaPolicy: Sendable, Equatable, Codable {
    /// A λ given by the user.
    case fixed(lambda: Double)
    /// The λ whose held-out mean cost meets `budget` (from the calibration table).
    case budget(budget: Double, lambda: Double)
    /// The largest λ whose held-out mean quality reaches `target` (from the calibration table).
    case targetQuality(target: Double, lambda: Double)

    /// The λ the policy resolved to.
    public var lambda: Double {
        switch self {
        case .fixed(let lambda), .budget(_, let lambda), .targetQuality(_, let lambda): return lambda
        }
    }
}

/// One row of a router's calibration table: at `lambda`, held-out prompts cost `cost` and reach `quality`
/// on average (out-of-fold predictions on the training data).
public struct CalibrationPoint: Sendable, Codable, Equatable {
    public var lambda: Double
    public var cost: Double
    public var quality: Double

    public init(lambda: Double, cost: Double, quality: Double) {
        self.lambda = lambda
        self.cost = cost
        self.quality = quality
    }
}

/// Lookups in a calibration table sorted by increasing λ.
public enum Calibration {
    /// The smallest λ whose mean cost is at most `budget` (the best quality the budget buys), or `nil` when
    /// even the cheapest routing costs more.
    public static func lambda(forBudget budget: Double, in table: [CalibrationPoint]) -> Double? {
        table.first { $0.cost <= budget }?.lambda
    }

    /// The largest λ whose mean quality still reaches `target` (the cheapest routing that does), or `nil` when
    /// no λ reaches it.
    public static func lambda(forQuality target: Double, in table: [CalibrationPoint]) -> Double? {
        table.last { $0.quality >= target }?.lambda
    }

    /// A table from a deferral curve: every point with a λ, thinned to at most `limit` rows.
    public static func table(from curve: [CurvePoint], limit: Int = 512) -> [CalibrationPoint] {
        DeferralCurve.thinned(curve, limit: limit).compactMap { point in
            point.lambda.map { CalibrationPoint(lambda: $0, cost: point.cost, quality: point.quality) }
        }
    }
}
