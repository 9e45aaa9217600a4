import Testing

@testable import CATImageCore

@Suite("Seeded splits")
struct SplitTests {
    @Test("the seeded generator gives a fixed sequence, so splits match on every platform")
    func generatorIsFixed() {
        var generator = SeededGenerator(seed: 42)
        // SplitMix64 reference values for seed 42.
        #expect(generator.next() == 0xBDD7_3226_2FEB_6E95)
        #expect(generator.next() == 0x28EF_E333_B266_F103)
    }

    @Test("the same seed gives the same train/test split; another seed a different one")
    func trainTestDeterminism() {
        let a = DataSplit.trainTest(count: 1_000, testFraction: 0.2, seed: 7)
        let b = DataSplit.trainTest(count: 1_000, testFraction: 0.2, seed: 7)
        let c = DataSplit.trainTest(count: 1_000, testFraction: 0.2, seed: 8)
        #expect(a == b && a != c)
        #expect(a.test.count == 200 && a.train.count == 800)
        #expect(Set(a.train).isDisjoint(with: a.test) && Set(a.train + a.test) == Set(0..<1_000))
    }

    @Test("k folds partition the indices into near-equal disjoint parts")
    func kFoldPartition() {
        let folds = DataSplit.kFold(count: 103, folds: 5, seed: 1)
        #expect(folds.count == 5)
        #expect(Set(folds.flatMap { $0 }) == Set(0..<103) && folds.flatMap { $0 }.count == 103)
        #expect(folds.map(\.count).max()! - folds.map(\.count).min()! <= 1)
        #expect(folds == DataSplit.kFold(count: 103, folds: 5, seed: 1))
        #expect(DataSplit.complement(of: folds[0], count: 103).count == 103 - folds[0].count)
    }

    @Test("stratified splits keep every group's share in each part")
    func stratified() {
        let groups: [String?] = Array(repeating: "big", count: 800) + Array(repeating: "small", count: 200)
        let split = DataSplit.trainTest(count: 1_000, testFraction: 0.25, seed: 3, groups: groups)
        #expect(split.test.filter { $0 >= 800 }.count == 50 && split.test.filter { $0 < 800 }.count == 200)
        let folds = DataSplit.kFold(count: 1_000, folds: 4, seed: 3, groups: groups)
        for fold in folds {
            #expect(fold.filter { $0 >= 800 }.count == 50)
        }
    }

    @Test("a training share keeps that fraction of each group, drawn from the given indices, nested across shares")
    func nestedShares() {
        let groups: [String?] = Array(repeating: "big", count: 800) + Array(repeating: "small", count: 200)
        let train = DataSplit.complement(
            of: DataSplit.kFold(count: 1_000, folds: 5, seed: 3, groups: groups)[0], count: 1_000)
        let quarter = DataSplit.share(of: train, fraction: 0.25, seed: 9, groups: groups)
        let half = DataSplit.share(of: train, fraction: 0.5, seed: 9, groups: groups)
        #expect(quarter.count == 200 && half.count == 400)
        #expect(quarter.filter { $0 >= 800 }.count == 40 && half.filter { $0 >= 800 }.count == 80)
        #expect(Set(quarter).isSubset(of: Set(half)) && Set(half).isSubset(of: Set(train)))
        #expect(quarter == quarter.sorted())
        #expect(DataSplit.share(of: train, fraction: 0.25, seed: 10, groups: groups) != quarter)
        #expect(DataSplit.share(of: train, fraction: 1, seed: 9, groups: groups) == train)
        #expect(DataSplit.share(of: [5, 3], fraction: 0.01, seed: 1).count == 1)
    }
}
