import CATImageCore
import Foundation

/// Hyper-parameters of the lexical estimator.
public struct LexicalOptions: Sendable, Equatable, Codable {
    /// Ridge penalty on the TF-IDF weights (targets standardized per generator).
    public var alpha: Double
    /// A term enters the vocabulary when at least this many training prompts hold it.
    public var minCount: Int
    /// Longest word n-gram: 1 for words, 2 for words and pairs of adjacent words.
    public var maxN: Int

    public init(alpha: Double = 3, minCount: Int = 2, maxN: Int = 2) {
        self.alpha = alpha
        self.minCount = minCount
        self.maxN = maxN
    }

    /// Checks the options, with an error a person can act on.
    public func validate() throws {
        guard alpha > 0, alpha.isFinite else { throw EstimatorError("lexical needs alpha > 0, got \(alpha)") }
        guard minCount >= 1 else { throw EstimatorError("lexical needs min-count ≥ 1, got \(minCount)") }
        guard (1...3).contains(maxN) else { throw EstimatorError("lexical needs 1 ≤ ngrams ≤ 3, got \(maxN)") }
    }
}

/// The words of a prompt as hashed terms: the lexical estimator's features.
///
/// A word is a maximal run of letters and digits (Unicode-aware), lower-cased; a term is a word or a run of up to
/// ``LexicalOptions/maxN`` adjacent words joined by one space, hashed with 64-bit FNV-1a and folded to 24 bits
/// (so a term id is exact in a Float32 tensor of the router file). Distinct terms that share an id are counted as
/// one: with 24 bits, a vocabulary of 50,000 terms shares about 75 ids, nearly all among rare terms.
public enum LexicalTerms {
    /// Term ids are below this bound.
    public static let idBound: UInt32 = 1 << 24

    /// The prompt's words, lower-cased.
    public static func words(of text: String) -> [String] {
        var words: [String] = []
        var current = String.UnicodeScalarView()
        for scalar in text.lowercased().unicodeScalars {
            if scalar.properties.isAlphabetic || scalar.properties.numericType != nil {
                current.append(scalar)
            } else if !current.isEmpty {
                words.append(String(current))
                current = String.UnicodeScalarView()
            }
        }
        if !current.isEmpty { words.append(String(current)) }
        return words
    }

    /// Each term id of the prompt with the number of times it occurs.
    public static func counts(of text: String, maxN: Int) -> [UInt32: Int] {
        let words = words(of: text)
        var counts: [UInt32: Int] = [:]
        for n in 1...max(1, maxN) where words.count >= n {
            for start in 0...(words.count - n) {
                counts[id(of: words[start..<(start + n)]), default: 0] += 1
            }
        }
        return counts
    }

    /// The id of the term made of `words` (joined by one space).
    static func id(of words: ArraySlice<String>) -> UInt32 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (index, word) in words.enumerated() {
            if index > 0 { hash = (hash ^ 0x20) &* 0x100_0000_01b3 }
            for byte in word.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        }
        return UInt32(truncatingIfNeeded: hash ^ (hash >> 24) ^ (hash >> 48)) & (idBound - 1)
    }
}

/// Ridge regression on the prompt's words: sublinear TF-IDF of word n-grams (vocabulary and IDF from the training
/// prompts, rows L2-normalised) to standardized per-generator quality, `W = (XᵀX + αI)⁻¹ XᵀY`, with no intercept
/// column (the target means are added back).
///
/// It reads the prompts' texts only, so a router of it alone runs no encoder; averaged with the neighbour and
/// ridge estimators on frozen embeddings it adds what a sentence embedding blurs: the exact words (a style tag, a
/// named artist, "text", "hands") that decide which generator renders a prompt well. The normal equations are
/// solved by conjugate gradients on the sparse rows, so the fit scales with the number of terms in the training
/// prompts, not with the square of the vocabulary or of the prompt count.
public struct LexicalEstimator: QualityEstimator {
    public let options: LexicalOptions
    /// Term ids of the vocabulary, ascending.
    public let terms: [UInt32]
    /// Inverse document frequency of each vocabulary term.
    public let idf: [Float]
    /// Weights `[V, M]` in standardized target units.
    public let weights: Matrix
    let scaling: TargetScaling
    private let index: [UInt32: Int]

    init(_ data: TrainingSet, options: LexicalOptions) throws {
        try options.validate()
        let texts = data.input.texts
        let counts = texts.map { LexicalTerms.counts(of: $0, maxN: options.maxN) }
        var documents: [UInt32: Int] = [:]
        for prompt in counts { for term in prompt.keys { documents[term, default: 0] += 1 } }
        let terms = documents.filter { $0.value >= options.minCount }.keys.sorted()
        let n = Double(texts.count)
        let idf = terms.map { Float(log((1 + n) / (1 + Double(documents[$0]!))) + 1) }
        let index = Self.columns(of: terms)
        let rows = counts.map { Self.row($0, index: index, idf: idf) }
        let scaling = TargetScaling(quality: data.targets).roundedToFloat32()
        let targets = scaling.targets(fromQualities: data.targets)
        let m = data.outputCount
        var weights = [Float](repeating: 0, count: terms.count * m)
        for output in 0..<m {
            let solution = Self.solve(
                rows: rows, columns: terms.count, targets: targets.map { $0[output] }, alpha: options.alpha)
            for j in solution.indices { weights[j * m + output] = Float(solution[j]) }
        }
        self.init(
            options: options, terms: terms, index: index, idf: idf,
            weights: Matrix(rows: terms.count, columns: m, storage: weights), scaling: scaling)
    }

    /// An estimator from its parts; `terms` ascending, `index` their columns (``columns(of:)``).
    private init(
        options: LexicalOptions, terms: [UInt32], index: [UInt32: Int], idf: [Float], weights: Matrix,
        scaling: TargetScaling
    ) {
        self.options = options
        self.terms = terms
        self.index = index
        self.idf = idf
        self.weights = weights
        self.scaling = scaling
    }

    /// Each term's column in the vocabulary.
    private static func columns(of terms: [UInt32]) -> [UInt32: Int] {
        Dictionary(uniqueKeysWithValues: terms.enumerated().map { ($1, $0) })
    }

    init(options: LexicalOptions, tensors: [String: EstimatorTensor]) throws {
        try options.validate()
        guard let terms = tensors["terms"], let idf = tensors["idf"], let weights = tensors["weights"],
            terms.shape.count == 1, idf.shape == terms.shape, weights.shape.count == 2,
            weights.shape[0] == terms.values.count,
            let scaling = TargetScaling(stored: tensors, outputs: weights.shape[1])
        else { throw EstimatorError("lexical estimator tensors are missing or disagree in shape") }
        var ids: [UInt32] = []
        ids.reserveCapacity(terms.values.count)
        for value in terms.values {
            guard value >= 0, value < Float(LexicalTerms.idBound), value == value.rounded(),
                ids.last.map({ Float($0) < value }) ?? true
            else { throw EstimatorError("lexical estimator term ids are not ascending whole numbers below 2^24") }
            ids.append(UInt32(value))
        }
        guard idf.values.allSatisfy({ $0.isFinite && $0 > 0 }), weights.values.allSatisfy(\.isFinite) else {
            throw EstimatorError("lexical estimator holds non-finite or non-positive weights")
        }
        self.init(
            options: options, terms: ids, index: Self.columns(of: ids), idf: idf.values, weights: weights.matrix,
            scaling: scaling)
    }

    public var spec: EstimatorSpec { .lexical(options) }
    public var outputCount: Int { weights.columns }

    public func predict(_ input: EstimatorInput) -> [[Double]] {
        let m = weights.columns
        return input.texts.map { text in
            var z = [Double](repeating: 0, count: m)
            for (column, value) in Self.row(LexicalTerms.counts(of: text, maxN: options.maxN), index: index, idf: idf) {
                for output in 0..<m { z[output] += value * Double(weights.storage[column * m + output]) }
            }
            return scaling.quality(fromTarget: z)
        }
    }

    public func tensors() -> [String: EstimatorTensor] {
        scaling.tensors.merging([
            "terms": EstimatorTensor(shape: [terms.count], values: terms.map { Float($0) }),
            "idf": EstimatorTensor(shape: [idf.count], values: idf),
            "weights": EstimatorTensor(weights),
        ]) { $1 }
    }

    /// A prompt's sparse TF-IDF row: `(1 + ln tf)·idf` over the vocabulary's terms, L2-normalised (empty when the
    /// prompt holds no vocabulary term).
    static func row(_ counts: [UInt32: Int], index: [UInt32: Int], idf: [Float]) -> [(column: Int, value: Double)] {
        var row: [(column: Int, value: Double)] = []
        for (term, count) in counts {
            guard let column = index[term] else { continue }
            row.append((column, (1 + log(Double(count))) * Double(idf[column])))
        }
        row.sort { $0.column < $1.column }
        let norm = row.reduce(0) { $0 + $1.value * $1.value }.squareRoot()
        return norm > 0 ? row.map { ($0.column, $0.value / norm) } : []
    }

    /// Solves `(XᵀX + αI) w = Xᵀy` by conjugate gradients, X given by its sparse rows.
    static func solve(rows: [[(column: Int, value: Double)]], columns: Int, targets: [Double], alpha: Double)
        -> [Double]
    {
        func normal(_ v: [Double]) -> [Double] {
            var result = v.map { $0 * alpha }
            for row in rows {
                var dot = 0.0
                for (column, value) in row { dot += value * v[column] }
                for (column, value) in row { result[column] += value * dot }
            }
            return result
        }
        var b = [Double](repeating: 0, count: columns)
        for (row, y) in zip(rows, targets) { for (column, value) in row { b[column] += value * y } }
        var w = [Double](repeating: 0, count: columns)
        var r = b
        var p = r
        var rr = r.reduce(0) { $0 + $1 * $1 }
        let tolerance = 1e-20 * max(rr, 1e-300)
        for _ in 0..<(10 * columns + 10) where rr > tolerance {
            let ap = normal(p)
            let step = rr / zip(p, ap).reduce(0) { $0 + $1.0 * $1.1 }
            for j in 0..<columns {
                w[j] += step * p[j]
                r[j] -= step * ap[j]
            }
            let next = r.reduce(0) { $0 + $1 * $1 }
            let beta = next / rr
            rr = next
            for j in 0..<columns { p[j] = r[j] + beta * p[j] }
        }
        return w
    }
}
