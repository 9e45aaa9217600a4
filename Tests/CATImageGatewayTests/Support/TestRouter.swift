import CATImageCore
import CATImageGateway
import Foundation

// TEMPORARY while CATImage.Router is being written: a deterministic stand-in. Replaced by a real router trained on
// CEMS with the real MiniLM weights before these tests count as done.
struct DevelopmentPredictor: QualityPredictor {
    var generatorNames = ["SDXL-Turbo", "SD-Turbo", "amused", "TAESD"]
    var generatorCosts = [0.474, 0.142, 0.398, 1.560]
    var defaultLambda = 0.5
    func predictQualities(for prompts: [String]) -> [[Double]] {
        prompts.map { prompt in
            let difficulty = Double(prompt.count % 17) / 17
            return [34.6 + difficulty, 34.0 - difficulty, 32.6, 34.0 + 0.5 * difficulty]
        }
    }
    func lambda(forBudget meanCost: Double) -> Double? { nil }
}

enum TestRouter {
    static func shared() throws -> any QualityPredictor { DevelopmentPredictor() }
}

extension TestRouter {
    /// CEMS prompt indices for replays: a seeded sample disjoint from the router's training prompts.
    static func replayPrompts(count: Int) throws -> [Int] {
        var generator = SeededGenerator(seed: 2024)
        var indices = Array(0..<10_000)
        indices.shuffle(using: &generator)
        return Array(indices.suffix(count))
    }
}
