extension Array where Element == [Double] {
    /// The mean of each of the `width` columns of these rows (`[N][width]`, one row per prompt): a generator's
    /// mean cost or quality over prompts, as the routing rule and the figures use it. Zeros when there are no rows.
    public func columnMeans(width: Int) -> [Double] {
        var sums = [Double](repeating: 0, count: width)
        for row in self { for c in 0..<width { sums[c] += row[c] } }
        let n = Double(Swift.max(1, count))
        return sums.map { $0 / n }
    }
}
