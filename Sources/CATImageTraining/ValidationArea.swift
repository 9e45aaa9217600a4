/// The routing objective early stopping watches: the area under the validation deferral curve.
///
/// A local implementation of DESIGN.md's definition ("Evaluation"), so this module does not depend on the
/// evaluation module above it: the exact λ-sweep of `argmax_m (γ̂_m − λ·c_m)`, then the mean over costs from the
/// cheapest to the most expensive generator's mean cost of the best quality the polyline reaches at or below that
/// cost (held flat to the left of its cheapest point and to the right of its best). The zero router's area is the
/// same for every estimator, so a larger area is a larger gap recovered.
public enum ValidationArea {
    /// Area of the router curve of `predicted` `[N][M]` given true `quality` and `cost` `[N][M]`.
    ///
    /// - Parameter ruleCosts: the costs the rule uses (per-generator training means), default `cost`.
    public static func area(
        predicted: [[Double]], quality: [[Double]], cost: [[Double]], ruleCosts: [[Double]]? = nil,
        gridIntervals: Int = 1024
    ) -> Double {
        let n = predicted.count
        precondition(n > 0 && quality.count == n && cost.count == n, "area inputs disagree on rows")
        let m = predicted[0].count
        let rule = ruleCosts ?? cost
        var meanCost = [Double](repeating: 0, count: m)
        for i in 0..<n { for j in 0..<m { meanCost[j] += cost[i][j] / Double(n) } }
        let curve = sweep(predicted: predicted, ruleCosts: rule, quality: quality, cost: cost)
        let low = meanCost.min() ?? 0
        let high = meanCost.max() ?? 0
        let cheapest = curve.min { $0.cost != $1.cost ? $0.cost < $1.cost : $0.quality > $1.quality }!
        func envelope(_ x: Double) -> Double {
            var best = cheapest.quality
            for k in curve.indices {
                let a = curve[k]
                if a.cost <= x { best = max(best, a.quality) }
                guard k > 0 else { continue }
                let b = curve[k - 1]
                let (p, q) = a.cost <= b.cost ? (a, b) : (b, a)
                if p.cost <= x && x < q.cost && q.cost > p.cost {
                    best = max(best, p.quality + (x - p.cost) / (q.cost - p.cost) * (q.quality - p.quality))
                }
            }
            return best
        }
        guard high > low else { return envelope(low) }
        var sum = 0.0
        var previous = envelope(low)
        for k in 1...gridIntervals {
            let value = envelope(low + (high - low) * Double(k) / Double(gridIntervals))
            sum += (previous + value) / 2
            previous = value
        }
        return sum / Double(gridIntervals)
    }

    /// The (cost, quality) points of the exact λ-sweep from λ = 0 until every prompt sits on its cheapest generator.
    static func sweep(
        predicted: [[Double]], ruleCosts: [[Double]], quality: [[Double]], cost: [[Double]]
    ) -> [(cost: Double, quality: Double)] {
        let n = predicted.count
        var events: [(lambda: Double, prompt: Int, from: Int, to: Int)] = []
        var costSum = 0.0
        var qualitySum = 0.0
        for i in 0..<n {
            let p = predicted[i]
            let c = ruleCosts[i]
            // λ = 0 choice: best predicted quality, ties to the cheaper generator.
            var current = 0
            for j in p.indices.dropFirst() where p[j] > p[current] || (p[j] == p[current] && c[j] < c[current]) {
                current = j
            }
            costSum += cost[i][current]
            qualitySum += quality[i][current]
            var lambda = 0.0
            while true {
                var next: Int?
                var nextLambda = Double.infinity
                for j in p.indices where c[j] < c[current] {
                    let crossing = max(lambda, (p[current] - p[j]) / (c[current] - c[j]))
                    if crossing < nextLambda || (crossing == nextLambda && next.map { c[j] < c[$0] } ?? true) {
                        next = j
                        nextLambda = crossing
                    }
                }
                guard let to = next else { break }
                events.append((nextLambda, i, current, to))
                current = to
                lambda = nextLambda
            }
        }
        events.sort { $0.lambda != $1.lambda ? $0.lambda < $1.lambda : $0.prompt < $1.prompt }
        let scale = 1 / Double(n)
        var points = [(cost: costSum * scale, quality: qualitySum * scale)]
        var index = 0
        while index < events.count {
            let lambda = events[index].lambda
            while index < events.count && events[index].lambda == lambda {
                let e = events[index]
                costSum += cost[e.prompt][e.to] - cost[e.prompt][e.from]
                qualitySum += quality[e.prompt][e.to] - quality[e.prompt][e.from]
                index += 1
            }
            points.append((costSum * scale, qualitySum * scale))
        }
        return points
    }
}
