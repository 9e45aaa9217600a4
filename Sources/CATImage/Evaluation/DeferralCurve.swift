/// One point of a quality-vs-cost curve: the router at `lambda` has this mean cost and mean true quality.
public struct CurvePoint: Sendable, Codable, Equatable {
    /// The λ of the routing rule (`nil` for points that are not a λ, such as hull vertices).
    public var lambda: Double?
    /// Mean realised cost per prompt.
    public var cost: Double
    /// Mean true quality per prompt.
    public var quality: Double

    public init(lambda: Double?, cost: Double, quality: Double) {
        self.lambda = lambda
        self.cost = cost
        self.quality = quality
    }
}

/// Deferral curves and the areas, gaps and savings defined in DESIGN.md ("Evaluation").
///
/// Curves are polylines: consecutive points are joined by straight segments, because randomly mixing the
/// two neighbouring λ policies (or two generators, for the zero router) reaches every point between them.
public enum DeferralCurve {
    /// The exact λ-sweep of the rule `argmax_m (predicted[i][m] − λ·ruleCosts[i][m])` over `λ ∈ [0, ∞)`.
    ///
    /// Every λ where some prompt's choice changes (a breakpoint) yields a point; the first point is λ = 0,
    /// the last sends every prompt to its cheapest generator. Ties go to the cheaper generator, as in
    /// ``RoutingRule/choose(predicted:costs:lambda:)``.
    ///
    /// - Parameters:
    ///   - predicted: estimated quality `[N][M]` (the true quality gives the oracle).
    ///   - ruleCosts: costs the rule uses `[N][M]` (per-generator training means repeated, or true costs).
    ///   - quality: true quality `[N][M]`, averaged into each point.
    ///   - cost: realised cost `[N][M]`, averaged into each point.
    public static func sweep(
        predicted: [[Double]], ruleCosts: [[Double]], quality: [[Double]], cost: [[Double]]
    ) -> [CurvePoint] {
        let n = predicted.count
        precondition(ruleCosts.count == n && quality.count == n && cost.count == n, "sweep inputs disagree on rows")
        guard n > 0 else { return [] }
        struct Event {
            var lambda: Double
            var prompt: Int
            var from: Int
            var to: Int
        }
        var events: [Event] = []
        var costSum = 0.0
        var qualitySum = 0.0
        for i in 0..<n {
            let p = predicted[i]
            let c = ruleCosts[i]
            var current = RoutingRule.choose(predicted: p, costs: c, lambda: 0)
            costSum += cost[i][current]
            qualitySum += quality[i][current]
            var lambda = 0.0
            while true {
                var next: Int?
                var nextLambda = Double.infinity
                for m in p.indices where c[m] < c[current] {
                    let crossing = max(lambda, (p[current] - p[m]) / (c[current] - c[m]))
                    if crossing < nextLambda || (crossing == nextLambda && next.map({ c[m] < c[$0] }) ?? true) {
                        next = m
                        nextLambda = crossing
                    }
                }
                guard let to = next else { break }
                events.append(Event(lambda: nextLambda, prompt: i, from: current, to: to))
                current = to
                lambda = nextLambda
            }
        }
        events.sort { $0.lambda != $1.lambda ? $0.lambda < $1.lambda : $0.prompt < $1.prompt }
        let scale = 1 / Double(n)
        var points = [CurvePoint(lambda: 0, cost: costSum * scale, quality: qualitySum * scale)]
        var index = 0
        while index < events.count {
            let lambda = events[index].lambda
            while index < events.count && events[index].lambda == lambda {
                let e = events[index]
                costSum += cost[e.prompt][e.to] - cost[e.prompt][e.from]
                qualitySum += quality[e.prompt][e.to] - quality[e.prompt][e.from]
                index += 1
            }
            if lambda == 0 {
                points[0] = CurvePoint(lambda: 0, cost: costSum * scale, quality: qualitySum * scale)
            } else {
                points.append(CurvePoint(lambda: lambda, cost: costSum * scale, quality: qualitySum * scale))
            }
        }
        return points
    }

    /// The choice of every prompt at one λ.
    public static func choices(predicted: [[Double]], ruleCosts: [[Double]], lambda: Double) -> [Int] {
        predicted.indices.map { RoutingRule.choose(predicted: predicted[$0], costs: ruleCosts[$0], lambda: lambda) }
    }

    /// The upper convex hull of `points` (as a polyline from the cheapest point to the most expensive).
    ///
    /// For single-generator points this is the *zero router*: what randomly mixing fixed generators reaches.
    public static func upperHull(_ points: [CurvePoint]) -> [CurvePoint] {
        let sorted = points.sorted { $0.cost != $1.cost ? $0.cost < $1.cost : $0.quality > $1.quality }
        var hull: [CurvePoint] = []
        for point in sorted {
            if let last = hull.last, last.cost == point.cost { continue }  // keep the best at each cost
            while hull.count >= 2 {
                let a = hull[hull.count - 2]
                let b = hull[hull.count - 1]
                // Drop b when it lies on or below the segment a → point.
                let cross =
                    (b.cost - a.cost) * (point.quality - a.quality) - (b.quality - a.quality) * (point.cost - a.cost)
                if cross >= 0 { hull.removeLast() } else { break }
            }
            hull.append(point)
        }
        return hull
    }

    /// Number of intervals of the cost grid on which areas are integrated (trapezoid rule).
    public static let gridIntervals = 4096

    /// The non-decreasing envelope of a polyline on `grid`: the best quality reached at or below each cost.
    ///
    /// Costs below the curve's cheapest point take that point's quality (held flat to the left); costs above
    /// its most expensive point keep the best quality reached (held flat to the right).
    public static func envelope(of curve: [CurvePoint], on grid: [Double]) -> [Double] {
        precondition(!curve.isEmpty, "an empty curve has no envelope")
        let g = grid.count
        var value = [Double](repeating: -.infinity, count: g)
        // Quality reached for good from a grid index on (a prefix maximum is taken at the end).
        var fromIndex = [Double](repeating: -.infinity, count: g + 1)
        func firstIndex(atOrAbove cost: Double) -> Int {
            var low = 0
            var high = g
            while low < high {
                let mid = (low + high) / 2
                if grid[mid] < cost { low = mid + 1 } else { high = mid }
            }
            return low
        }
        func addSegment(_ a: CurvePoint, _ b: CurvePoint) {
            let (p, q) = a.cost <= b.cost ? (a, b) : (b, a)
            let start = firstIndex(atOrAbove: p.cost)
            let end = firstIndex(atOrAbove: q.cost)
            fromIndex[start] = max(fromIndex[start], p.quality)
            fromIndex[end] = max(fromIndex[end], max(p.quality, q.quality))
            if q.quality > p.quality && q.cost > p.cost {
                for k in start..<end {
                    let t = (grid[k] - p.cost) / (q.cost - p.cost)
                    value[k] = max(value[k], p.quality + t * (q.quality - p.quality))
                }
            }
        }
        if curve.count == 1 { addSegment(curve[0], curve[0]) }
        for k in 1..<max(1, curve.count) { addSegment(curve[k - 1], curve[k]) }
        var running = -Double.infinity
        for k in 0..<g {
            running = max(running, fromIndex[k])
            value[k] = max(value[k], running)
        }
        let cheapest = curve.min { $0.cost != $1.cost ? $0.cost < $1.cost : $0.quality > $1.quality }!
        // The envelope can only start where the cheapest point stands; hold that quality to its left.
        var best = -Double.infinity
        for k in 0..<g {
            if value[k] == -.infinity { value[k] = cheapest.quality }
            best = max(best, value[k])
            value[k] = best
        }
        return value
    }

    /// The area figure of DESIGN.md: the mean over costs in `[lowCost, highCost]` of the envelope.
    ///
    /// With `lowCost == highCost` it is the envelope at that cost.
    public static func area(of curve: [CurvePoint], lowCost: Double, highCost: Double) -> Double {
        let grid = costGrid(lowCost: lowCost, highCost: highCost)
        let values = envelope(of: curve, on: grid)
        guard values.count > 1 else { return values[0] }
        var sum = 0.0
        for k in 1..<values.count { sum += (values[k - 1] + values[k]) / 2 }
        return sum / Double(values.count - 1)
    }

    /// The evenly spaced integration grid over `[lowCost, highCost]`.
    public static func costGrid(lowCost: Double, highCost: Double) -> [Double] {
        guard highCost > lowCost else { return [lowCost] }
        let step = (highCost - lowCost) / Double(gridIntervals)
        return (0...gridIntervals).map { $0 == gridIntervals ? highCost : lowCost + Double($0) * step }
    }

    /// The least cost at which the polyline reaches `target` quality, or `nil` when it never does.
    public static func leastCost(of curve: [CurvePoint], reaching target: Double) -> Double? {
        var best: Double?
        func consider(_ cost: Double) { best = min(best ?? cost, cost) }
        for point in curve where point.quality >= target { consider(point.cost) }
        for k in curve.indices.dropFirst() {
            let a = curve[k - 1]
            let b = curve[k]
            if (a.quality - target) * (b.quality - target) < 0 {
                let t = (target - a.quality) / (b.quality - a.quality)
                consider(a.cost + t * (b.cost - a.cost))
            }
        }
        return best
    }

    /// At most `limit` points of `curve`, evenly spaced by index, always keeping the first and last.
    public static func thinned(_ curve: [CurvePoint], limit: Int) -> [CurvePoint] {
        guard curve.count > limit, limit >= 2 else { return curve }
        return (0..<limit).map { curve[Int((Double($0) * Double(curve.count - 1) / Double(limit - 1)).rounded())] }
    }
}
