import CATImage
import CATImageCore
import Foundation
import Synchronization
import Testing

@Suite("Lexical estimator (TF-IDF ridge on the prompt's words)")
struct LexicalEstimatorTests {
    @Test("words are lower-cased runs of letters and digits, in any script; punctuation and spaces split them")
    func words() {
        #expect(
            LexicalTerms.words(of: "A red CAR, 8k—résumé 東京!  portrait_of") == [
                "a", "red", "car", "8k", "résumé", "東京", "portrait", "of",
            ])
        #expect(LexicalTerms.words(of: "").isEmpty)
        #expect(LexicalTerms.words(of: " ,.!? \n").isEmpty)
    }

    @Test("term ids are pinned (FNV-1a folded to 24 bits), so a router file reads the same terms on every build")
    func pinnedIds() {
        // Computed independently (Python) when the format was defined; a change here breaks stored routers.
        #expect(LexicalTerms.counts(of: "cat", maxN: 1) == [14_897_096: 1])
        #expect(LexicalTerms.counts(of: "A  CAT", maxN: 2) == [11_599_773: 1, 14_897_096: 1, idOf("a"): 1])
        #expect(LexicalTerms.counts(of: "résumé", maxN: 1) == [14_817_525: 1])
        #expect(LexicalTerms.counts(of: "東京", maxN: 1) == [2_093_932: 1])
    }

    func idOf(_ word: String) -> UInt32 { LexicalTerms.counts(of: word, maxN: 1).keys.first! }

    @Test("counts hold every word and every pair of adjacent words with their multiplicities")
    func counts() {
        let counts = LexicalTerms.counts(of: "a cat and a cat", maxN: 2)
        let pair = { (a: String, b: String) in
            LexicalTerms.counts(of: "\(a) \(b)", maxN: 2).first { $0.key != idOf(a) && $0.key != idOf(b) }!.key
        }
        #expect(counts[idOf("a")] == 2 && counts[idOf("cat")] == 2 && counts[idOf("and")] == 1)
        #expect(counts[pair("a", "cat")] == 2 && counts[pair("cat", "and")] == 1 && counts[pair("and", "a")] == 1)
        #expect(counts.count == 6)
        #expect(LexicalTerms.counts(of: "a cat and a cat", maxN: 1).count == 3)
    }

    /// Prompts of random filler words; a prompt holding "neon" renders better on generator 1, one holding
    /// "portrait" better on generator 0, others alike on both (plus noise).
    static func plantedWords(prompts: Int, seed: UInt64) -> (texts: [String], quality: [[Double]]) {
        var random = SeededGenerator(seed: seed)
        let filler = (0..<300).map { "w\($0)" }
        var texts: [String] = []
        var quality: [[Double]] = []
        for _ in 0..<prompts {
            var words = (0..<6).map { _ in filler[random.nextInt(below: filler.count)] }
            let kind = random.nextInt(below: 3)
            if kind == 1 { words.insert("neon", at: random.nextInt(below: words.count)) }
            if kind == 2 { words.insert("portrait", at: random.nextInt(below: words.count)) }
            let effect = kind == 1 ? [0.0, 1.0] : kind == 2 ? [1.0, 0.0] : [0.5, 0.5]
            texts.append(words.joined(separator: " "))
            quality.append(effect.map { $0 + 0.3 * random.nextGaussian() })
        }
        return (texts, quality)
    }

    @Test(
        "a word that decides the better generator is learned, on prompts never seen, and an unknown prompt gets the mean"
    )
    func learnsPlantedWords() throws {
        let train = Self.plantedWords(prompts: 400, seed: 1)
        let test = Self.plantedWords(prompts: 200, seed: 2)
        let data = TrainingSet(input: EstimatorInput(texts: train.texts, features: nil), targets: train.quality)
        let estimator = try EstimatorSpec.lexical(LexicalOptions()).fit(data)
        let predicted = estimator.predict(EstimatorInput(texts: test.texts, features: nil))
        var right = 0
        var decided = 0
        for (text, row) in zip(test.texts, predicted) {
            let words = Set(LexicalTerms.words(of: text))
            guard words.contains("neon") || words.contains("portrait") else { continue }
            decided += 1
            if (row[1] > row[0]) == words.contains("neon") { right += 1 }
        }
        #expect(decided > 100)
        #expect(Double(right) >= 0.95 * Double(decided), "\(right) of \(decided) right")
        let means = train.quality.columnMeans(width: 2)
        let unknown = estimator.predict(EstimatorInput(texts: ["", "zzz qqq", "!!!"], features: nil))
        for row in unknown { for g in 0..<2 { #expect(abs(row[g] - means[g]) < 1e-5) } }
    }

    @Test("conjugate gradients reach the ridge solution: residual of the normal equations is near zero")
    func solvesNormalEquations() throws {
        let train = Self.plantedWords(prompts: 300, seed: 3)
        let options = LexicalOptions(alpha: 0.5, minCount: 1)
        let data = TrainingSet(input: EstimatorInput(texts: train.texts, features: nil), targets: train.quality)
        let estimator = try #require(try EstimatorSpec.lexical(options).fit(data) as? LexicalEstimator)
        // Rebuild X (rows L2-normalised TF-IDF) and check (XᵀX + αI)w = Xᵀy for the first generator's targets.
        let index = Dictionary(uniqueKeysWithValues: estimator.terms.enumerated().map { ($1, $0) })
        let v = estimator.terms.count
        var x = [[Double]](repeating: [Double](repeating: 0, count: v), count: train.texts.count)
        for (i, text) in train.texts.enumerated() {
            for (term, count) in LexicalTerms.counts(of: text, maxN: options.maxN) {
                guard let j = index[term] else { continue }
                x[i][j] = (1 + log(Double(count))) * Double(estimator.idf[j])
            }
            let norm = x[i].reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > 0 { x[i] = x[i].map { $0 / norm } }
        }
        let column = train.quality.map { $0[0] }
        let mean = column.reduce(0, +) / Double(column.count)
        let scale = (column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(column.count)).squareRoot()
        let y = column.map { (Double(Float(($0 - mean))) / scale) }
        let w = (0..<v).map { Double(estimator.weights.storage[$0 * 2]) }
        let xw = x.map { row in zip(row, w).reduce(0) { $0 + $1.0 * $1.1 } }
        var worst = 0.0
        var largest = 0.0
        for j in 0..<v {
            var lhs = options.alpha * w[j]
            var rhs = 0.0
            for i in x.indices where x[i][j] != 0 {
                lhs += x[i][j] * xw[i]
                rhs += x[i][j] * y[i]
            }
            worst = max(worst, abs(lhs - rhs))
            largest = max(largest, abs(rhs))
        }
        #expect(worst < 1e-4 * largest, "largest residual \(worst) against \(largest)")
    }

    @Test("a router of the lexical estimator alone decides without running the sentence encoder")
    func noEncoderPass() throws {
        let train = Self.plantedWords(prompts: 300, seed: 4)
        let dataset = RoutingDataset(
            prompts: train.texts.enumerated().map { Prompt(id: "p\($0.offset)", text: $0.element) },
            generators: [Generator(name: "g0", cost: 1), Generator(name: "g1", cost: 1)],
            quality: train.quality.flatMap { $0 }, metric: "synthetic", source: "test")
        let encoder = CountingEncoder()
        let router = try RouterTrainer.train(
            dataset: dataset, features: nil, encoder: encoder, estimator: .lexical(LexicalOptions()),
            lambda: .fixed(0))
        let decisions = router.decide(prompts: ["w1 neon w2", "portrait w3 w4"])
        #expect(decisions.map(\.generator) == ["g1", "g0"])
        #expect(encoder.calls.withLock { $0 } == 0)
        #expect(EstimatorSpec.lexical(LexicalOptions()).reads == .texts)
        #expect(EstimatorSpec.ensemble([.kernel(tau: 0.05), .lexical(LexicalOptions())]).reads == [.texts, .features])
    }

    @Test("auto finds the words' gain through its anchor when the prompts' texts are there, and drops it without them")
    func autoUsesTheWords() throws {
        let train = Self.plantedWords(prompts: 300, seed: 7)
        var random = SeededGenerator(seed: 8)
        // Features carry nothing: the gain is in the words.
        let features = Matrix(
            rowVectors: (0..<300).map { _ in
                let x = (0..<8).map { _ in random.nextGaussian() }
                let norm = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
                return x.map { Float($0 / norm) }
            })
        let withTexts = TrainingSet(
            input: EstimatorInput(texts: train.texts, features: features), targets: train.quality)
        let chosen = try EstimatorSpec.auto(AutoOptions()).fit(withTexts, seed: 1).spec
        #expect(chosen.reads.contains(.texts), "auto chose \(chosen)")
        let featuresAlone = TrainingSet(features: features, targets: train.quality)
        let fallback = try EstimatorSpec.auto(AutoOptions()).fit(featuresAlone, seed: 1).spec
        #expect(!fallback.reads.contains(.texts), "auto chose \(fallback)")
        #expect(AutoOptions.kernelRidgeLexical.featuresOnly == AutoOptions.kernelRidge)
        #expect(EstimatorSpec.lexical(LexicalOptions()).featuresOnly == nil)
        // The anchor reads the texts; the fine-tuned candidate the texts and layer 4's means.
        #expect(
            EstimatorSpec.auto(AutoOptions(candidates: [.ridge(alpha: 1)])).reads == [
                .features, .texts, .layerMeans(4),
            ])
        #expect(
            EstimatorSpec.auto(AutoOptions(candidates: [.ridge(alpha: 1)], fineTuned: nil)).reads == [
                .features, .texts,
            ])
    }

    @Test(
        "stored arrays that are not a lexical estimator's are refused, not misread",
        arguments: ["unsorted", "fractional", "too large", "nan weight", "idf zero", "short weights", "missing"])
    func corruptTensors(defect: String) throws {
        let train = Self.plantedWords(prompts: 100, seed: 5)
        let data = TrainingSet(input: EstimatorInput(texts: train.texts, features: nil), targets: train.quality)
        let spec = EstimatorSpec.lexical(LexicalOptions())
        let fitted = try spec.fit(data)
        var tensors = fitted.tensors()
        let restored = try spec.restore(tensors)
        let probe = EstimatorInput(texts: train.texts.prefix(20).map { $0 }, features: nil)
        #expect(restored.predict(probe) == fitted.predict(probe))
        var terms = tensors["terms"]!.values
        switch defect {
        case "unsorted": terms.swapAt(0, 1)
        case "fractional": terms[0] += 0.5
        case "too large": terms[terms.count - 1] = Float(1 << 25)
        case "nan weight": tensors["weights"]!.values[0] = .nan
        case "idf zero": tensors["idf"]!.values[0] = 0
        case "short weights":
            tensors["weights"] = EstimatorTensor(shape: [1, 2], values: [0, 0])
        default: tensors["idf"] = nil
        }
        tensors["terms"] = EstimatorTensor(shape: [terms.count], values: terms)
        #expect(throws: EstimatorError.self) { try spec.restore(tensors) }
    }

    @Test("lexical specs parse with their keys, survive JSON, and bad values are refused naming the problem")
    func parse() throws {
        let specs = try EstimatorSpec.parseList(
            "lexical, lexical:alpha=1:min-count=3:ngrams=1, kernel:tau=0.05+lexical")
        #expect(specs[0] == .lexical(LexicalOptions(alpha: 3, minCount: 2, maxN: 2)))
        #expect(specs[1] == .lexical(LexicalOptions(alpha: 1, minCount: 3, maxN: 1)))
        #expect(specs[2] == .ensemble([.kernel(tau: 0.05), .lexical(LexicalOptions())]))
        #expect(specs[0].description == "lexical(alpha=3)" && specs[0].kind == "lexical")
        let json = try JSONEncoder().encode(specs[1])
        #expect(try JSONDecoder().decode(EstimatorSpec.self, from: json) == specs[1])
        for (text, message) in [
            ("lexical:alpha=0", "alpha > 0"), ("lexical:ngrams=4", "1 ≤ ngrams ≤ 3"),
            ("lexical:min-count=0", "min-count must be a whole number ≥ 1"),
            ("lexical:min-count=1.5", "min-count must be a whole number ≥ 1"),
            ("lexical:alpha=x", "not a number"), ("lexical:tau=1", "unknown parameter 'tau'"),
        ] {
            expectParseError(text, contains: message)
        }
    }

    @Test("empty, punctuation-only and very long prompts get finite predictions")
    func oddPrompts() throws {
        let train = Self.plantedWords(prompts: 200, seed: 6)
        let data = TrainingSet(input: EstimatorInput(texts: train.texts, features: nil), targets: train.quality)
        let estimator = try EstimatorSpec.lexical(LexicalOptions()).fit(data)
        let long = Array(repeating: "neon w1 portrait", count: 20_000).joined(separator: " ")
        let rows = estimator.predict(EstimatorInput(texts: ["", "???", long, "\u{0}\u{FFFD}"], features: nil))
        #expect(rows.count == 4 && rows.allSatisfy { $0.count == 2 && $0.allSatisfy(\.isFinite) })
    }
}

/// A prompt encoder that counts its calls and returns zero features.
final class CountingEncoder: PromptEncoder {
    let calls = Mutex(0)
    let modelIdentifier = "test/counting"
    let weightsDigest = "digest-counting"

    func embed(_ prompts: [String]) -> Matrix {
        calls.withLock { $0 += 1 }
        return Matrix(rows: prompts.count, columns: 4)
    }
}
