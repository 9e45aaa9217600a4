/// Seeded, platform-independent train/test splits and k-fold partitions of `0..<count`.
///
/// With groups, every group is shuffled and dealt separately, so each part holds the same share of every
/// group (stratification). The same seed gives the same split on every run and platform.
public enum DataSplit {
    /// A train/test split.
    public struct TrainTest: Sendable, Equatable {
        /// Training indices, ascending.
        public var train: [Int]
        /// Test indices, ascending.
        public var test: [Int]
    }

    /// Splits `0..<count` so that about `testFraction` of it (of each group, when given) is the test part.
    public static func trainTest(
        count: Int, testFraction: Double, seed: UInt64, groups: [String?]? = nil
    ) -> TrainTest {
        precondition(testFraction > 0 && testFraction < 1, "test fraction must be in (0, 1), got \(testFraction)")
        var generator = SeededGenerator(seed: seed)
        var train: [Int] = []
        var test: [Int] = []
        for var stratum in strata(count: count, groups: groups) {
            generator.shuffle(&stratum)
            let testCount = Int((Double(stratum.count) * testFraction).rounded())
            test.append(contentsOf: stratum.prefix(testCount))
            train.append(contentsOf: stratum.dropFirst(testCount))
        }
        return TrainTest(train: train.sorted(), test: test.sorted())
    }

    /// Partitions `0..<count` into `folds` disjoint test folds of near-equal size (per group, when given).
    public static func kFold(count: Int, folds: Int, seed: UInt64, groups: [String?]? = nil) -> [[Int]] {
        precondition(folds >= 2 && folds <= max(2, count), "need 2 ≤ folds ≤ count, got \(folds) for \(count)")
        var generator = SeededGenerator(seed: seed)
        var parts = [[Int]](repeating: [], count: folds)
        // Deal each stratum round-robin, continuing where the last one stopped so fold sizes stay within one.
        var next = 0
        for var stratum in strata(count: count, groups: groups) {
            generator.shuffle(&stratum)
            for index in stratum {
                parts[next].append(index)
                next = (next + 1) % folds
            }
        }
        return parts.map { $0.sorted() }
    }

    /// About `fraction` of `indices` (of each group's, when `groups` is given for all of `0..<groups.count`),
    /// drawn at random, ascending: a training part cut down for a learning curve. For one seed the draws are
    /// nested: what a smaller fraction keeps, every larger one keeps too. At least one index of a non-empty stratum.
    public static func share(of indices: [Int], fraction: Double, seed: UInt64, groups: [String?]? = nil) -> [Int] {
        precondition(fraction > 0 && fraction <= 1, "fraction must be in (0, 1], got \(fraction)")
        guard fraction < 1 else { return indices.sorted() }
        var generator = SeededGenerator(seed: seed)
        var kept: [Int] = []
        for var stratum in strata(count: indices.count, groups: groups.map { g in indices.map { g[$0] } }) {
            generator.shuffle(&stratum)
            let keep = max(1, Int((Double(stratum.count) * fraction).rounded()))
            kept.append(contentsOf: stratum.prefix(keep).map { indices[$0] })
        }
        return kept.sorted()
    }

    /// The complement of a fold within `0..<count`, ascending.
    public static func complement(of part: [Int], count: Int) -> [Int] {
        var inPart = [Bool](repeating: false, count: count)
        for index in part { inPart[index] = true }
        return (0..<count).filter { !inPart[$0] }
    }

    /// Indices grouped by stratum in first-seen group order (a single stratum without groups).
    private static func strata(count: Int, groups: [String?]?) -> [[Int]] {
        guard let groups else { return [Array(0..<count)] }
        precondition(groups.count == count, "groups has \(groups.count) entries for \(count) items")
        var order: [String] = []
        var members: [String: [Int]] = [:]
        for (index, group) in groups.enumerated() {
            let key = group ?? ""
            if members[key] == nil { order.append(key) }
            members[key, default: []].append(index)
        }
        return order.map { members[$0]! }
    }
}
