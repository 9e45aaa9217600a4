import CATImage
import Testing

struct ValidationObjectiveTests {
    @Test("the early-stopping objective is the deferral-curve area of a hand-checked two-prompt case")
    func areaByHand() {
        // Generator 0 costs 1, generator 1 costs 3. Prompt A gains 2 from generator 1, prompt B gains nothing.
        let quality: [[Double]] = [[0, 2], [1, 1]]
        let cost: [[Double]] = [[1, 3], [1, 3]]
        // The oracle: at λ = 0, A on generator 1 and B (a tie) on the cheaper 0: (2, 1.5); at λ = 1 A moves: (1, 0.5).
        // Envelope over costs [1, 3]: 0.5 → 1.5 on [1, 2], then 1.5; its mean is 1 · ½ + 1.5 · ½ = 1.25.
        let oracle = DeferralCurve.validationArea(predicted: quality, quality: quality, cost: cost, ruleCosts: [1, 3])
        #expect(abs(oracle - 1.25) < 1e-3)
        // A router that sends both to generator 1 at λ = 0 (3, 1.5), then A (2, 0.5), then B (1, 0.5):
        // envelope 0.5 on [1, 2], then 0.5 → 1.5 on [2, 3]; mean 0.5 · ½ + 1 · ½ = 0.75.
        let wrong = DeferralCurve.validationArea(
            predicted: [[0, 0.5], [0, 1]], quality: quality, cost: cost, ruleCosts: [1, 3])
        #expect(abs(wrong - 0.75) < 1e-3)
    }
}
