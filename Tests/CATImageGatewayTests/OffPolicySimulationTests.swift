import CATImage
import CATImageCore
import CATImageEncoder
import CATImageGateway
import Foundation
import Testing

@Suite("Off-policy evaluation on a CEMS replay through a gateway with exploration")
struct OffPolicySimulationTests {
    /// 300 prompts through the gateway at ε = 0.3, a knn router deployed at budget 0.4 s, a ridge router at λ = 0
    /// evaluated off-policy. The DR interval is at 99%: with a correct estimator, a seed whose interval misses the
    /// truth has probability about 1% (the normal approximation over 300 rows, of which about 90 explored, keeps
    /// it near nominal; the bench's 95% runs covered the truth), and exploration is seeded.
    @Test(
        "the candidate's true mean quality (from the dataset) lies within the DR 99% interval; DR is narrower than IPS")
    func truthWithinDoublyRobustInterval() async throws {
        let dataset = try TestData.cems()
        let encoder = try SentenceEncoder(directory: try TestData.modelDirectory())
        var options = OffPolicySimulation.Options()
        options.trainingPrompts = 500
        options.replayPrompts = 300
        options.epsilon = 0.3
        options.confidence = 0.99
        options.seed = 31
        let directory = GatewayHarness.scratchFolder.appendingPathComponent("ope-simulation").path
        let result = try await OffPolicySimulation.run(
            dataset: dataset, encoder: encoder, options: options, directory: directory)
        let report = result.report
        #expect(result.prompts == 300)
        #expect(report.rows.usable == 300, "every replayed request served by its pick, with feedback: \(report.rows)")
        // Explored share ε·(K−1)/K = 0.225; ± 5 binomial standard deviations (0.024) at 300 requests.
        #expect(abs(report.deployed.exploredShare - 0.225) < 0.12, "explored \(report.deployed.exploredShare)")
        #expect(report.candidate.agreement < 0.95, "the candidate must differ from the deployed router")
        #expect(
            report.candidate.dr.contains(result.candidateTruth),
            "truth \(result.candidateTruth) outside DR [\(report.candidate.dr.low), \(report.candidate.dr.high)]")
        #expect(report.candidate.dr.standardError < report.candidate.ips.standardError)
        // Feedback is the true score of the served generator, so the realised mean is the truth of what was served.
        #expect(abs(report.deployed.quality.estimate - result.deployedRuleTruth) < 1.5)
    }
}
