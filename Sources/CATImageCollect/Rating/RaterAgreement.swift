/// One rater's rating of one unit (an image).
public struct RatingRecord: Sendable, Equatable, Hashable {
    /// The unit rated: a render id.
    public var unit: Int64
    public var rater: String
    public var value: Int

    public init(unit: Int64, rater: String, value: Int) {
        self.unit = unit
        self.rater = rater
        self.value = value
    }
}

/// How far raters agree: Krippendorff's alpha (ordinal and interval metrics) over every image with two or more
/// ratings, and the mean Spearman correlation over pairs of raters on the images both rated.
///
/// Alpha follows Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011): a coincidence matrix of
/// pairable values, α = 1 − (n − 1)·Σ o_ck δ²_ck / Σ n_c n_k δ²_ck. The ordinal metric is the primary figure (1–5
/// ratings are ordered categories whose spacing is not known); the interval metric treats them as equally spaced
/// numbers. Alpha is 1 for perfect agreement, 0 for agreement at chance, and can be negative.
public struct RaterAgreement: Sendable, Equatable, Codable {
    /// The distance between two values that alpha uses.
    public enum Metric: String, Sendable, Codable, CaseIterable {
        /// Any two different values disagree equally.
        case nominal
        /// Values are ranks: the distance counts how many pairable values lie between them.
        case ordinal
        /// Values are equally spaced numbers: squared difference.
        case interval
    }

    /// Raters with at least one rating.
    public var raters: Int
    /// Ratings in all.
    public var ratings: Int
    /// Images rated by two or more raters (the only ones alpha can use).
    public var pairableImages: Int
    /// Ratings on those images (Krippendorff's n).
    public var pairableRatings: Int
    /// Krippendorff's alpha, ordinal metric; `nil` with no pairable images or no variation at all.
    public var alphaOrdinal: Double?
    /// Krippendorff's alpha, interval metric.
    public var alphaInterval: Double?
    /// Mean Spearman rank correlation over rater pairs with at least ``minimumCoRated`` co-rated images and
    /// varying ratings on both sides; `nil` when no pair qualifies.
    public var meanPairwiseSpearman: Double?
    /// Rater pairs that entered the mean.
    public var spearmanPairs: Int

    /// Co-rated images a rater pair needs before its Spearman correlation is counted (two always give ±1).
    public static let minimumCoRated = 3

    /// Agreement over `records`; a rater who rated the same unit twice counts with the last record.
    public init(records: [RatingRecord]) {
        var byUnit: [Int64: [String: Int]] = [:]
        var byRater: [String: [Int64: Int]] = [:]
        for record in records {
            byUnit[record.unit, default: [:]][record.rater] = record.value
            byRater[record.rater, default: [:]][record.unit] = record.value
        }
        raters = byRater.count
        ratings = byRater.values.reduce(0) { $0 + $1.count }
        // Units sorted so the sums run in one order on every platform.
        let units = byUnit.keys.sorted().map { unit in byUnit[unit, default: [:]].values.map(Double.init) }
        let pairable = units.filter { $0.count >= 2 }
        pairableImages = pairable.count
        pairableRatings = pairable.reduce(0) { $0 + $1.count }
        alphaOrdinal = Self.krippendorffAlpha(units: units, metric: .ordinal)
        alphaInterval = Self.krippendorffAlpha(units: units, metric: .interval)

        let names = byRater.keys.sorted()
        var correlations: [Double] = []
        for (first, a) in names.enumerated() {
            for b in names[(first + 1)...] {
                let left = byRater[a, default: [:]]
                let right = byRater[b, default: [:]]
                let shared = left.keys.filter { right[$0] != nil }.sorted()
                guard shared.count >= Self.minimumCoRated else { continue }
                let x = shared.map { Double(left[$0] ?? 0) }
                let y = shared.map { Double(right[$0] ?? 0) }
                if let rho = Self.spearman(x, y) { correlations.append(rho) }
            }
        }
        spearmanPairs = correlations.count
        meanPairwiseSpearman = correlations.isEmpty ? nil : correlations.reduce(0, +) / Double(correlations.count)
    }

    /// Krippendorff's alpha over `units`, each the values its raters gave (missing ratings simply absent).
    ///
    /// Units with fewer than two values are not pairable and are left out. `nil` when fewer than two values are
    /// pairable or when every pairable value is the same (expected disagreement 0: alpha is undefined).
    public static func krippendorffAlpha(units: [[Double]], metric: Metric) -> Double? {
        let values = Array(Set(units.filter { $0.count >= 2 }.flatMap { $0 })).sorted()
        guard values.count >= 1 else { return nil }
        let index = Dictionary(uniqueKeysWithValues: values.enumerated().map { ($1, $0) })
        let size = values.count
        // Coincidences: each ordered pair of values from different raters of a unit, weighted 1 / (m_u − 1).
        var coincidences = [Double](repeating: 0, count: size * size)
        for unit in units where unit.count >= 2 {
            let weight = 1 / Double(unit.count - 1)
            for (i, a) in unit.enumerated() {
                for (j, b) in unit.enumerated() where i != j {
                    guard let c = index[a], let k = index[b] else { continue }
                    coincidences[c * size + k] += weight
                }
            }
        }
        var marginals = [Double](repeating: 0, count: size)
        for c in 0..<size {
            for k in 0..<size { marginals[c] += coincidences[c * size + k] }
        }
        let total = marginals.reduce(0, +)
        guard total >= 2 else { return nil }

        func distance(_ c: Int, _ k: Int) -> Double {
            switch metric {
            case .nominal:
                return c == k ? 0 : 1
            case .interval:
                let difference = values[c] - values[k]
                return difference * difference
            case .ordinal:
                let (low, high) = (min(c, k), max(c, k))
                let between = marginals[low...high].reduce(0, +) - (marginals[c] + marginals[k]) / 2
                return between * between
            }
        }
        var observed = 0.0
        var expected = 0.0
        for c in 0..<size {
            for k in 0..<size where c != k {
                let delta = distance(c, k)
                observed += coincidences[c * size + k] * delta
                expected += marginals[c] * marginals[k] * delta
            }
        }
        guard expected > 0 else { return nil }
        return 1 - (total - 1) * observed / expected
    }

    /// Spearman's rank correlation: Pearson's correlation of the ranks, ties given their mean rank; `nil` for
    /// fewer than two pairs or when either side is constant.
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double? {
        precondition(x.count == y.count, "paired samples must have the same length")
        guard x.count >= 2 else { return nil }
        let rx = ranks(x)
        let ry = ranks(y)
        let meanX = rx.reduce(0, +) / Double(rx.count)
        let meanY = ry.reduce(0, +) / Double(ry.count)
        var covariance = 0.0
        var varianceX = 0.0
        var varianceY = 0.0
        for (a, b) in zip(rx, ry) {
            covariance += (a - meanX) * (b - meanY)
            varianceX += (a - meanX) * (a - meanX)
            varianceY += (b - meanY) * (b - meanY)
        }
        guard varianceX > 0, varianceY > 0 else { return nil }
        return covariance / (varianceX * varianceY).squareRoot()
    }

    /// 1-based ranks, ties sharing the mean of the ranks they span.
    static func ranks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var result = [Double](repeating: 0, count: values.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && values[order[end + 1]] == values[order[start]] { end += 1 }
            let rank = Double(start + end) / 2 + 1
            for position in start...end { result[order[position]] = rank }
            start = end + 1
        }
        return result
    }
}
