import CATImage
import CATImageCore
import CATImageEncoder
import CATImageTestSupport
import Foundation
import Testing

@testable import CATImageGateway

@Suite("Off-policy evaluation on a CEMS replay through a gateway with exploration")
struct OffPolicySimulationTests {
    /// 300 prompts through the gateway at ε = 0.3, a knn router deployed at budget 0.4 s, a ridge router at λ = 0
    /// evaluated off-policy. Every served image is scored by the gateway's own `scoring:` queue (sample rate 1)
    /// through a stand-in scorer that reads the generator from the PNG and looks up the dataset's true score. The DR interval is at 99%: with a correct estimator, a seed whose interval misses the
    /// truth has probability about 1% (the normal approximation over 300 rows, of which about 90 explored, keeps
    /// it near nominal; the bench's 95% runs covered the truth), and exploration is seeded.
    @Test(
        "the candidate's true mean quality (from the dataset) lies within the DR 99% interval; DR is narrower than IPS")
    func truthWithinDoublyRobustInterval() async throws {
        let dataset = try await TestRouter.cems()
        let encoder = try SentenceEncoder(directory: try miniLMDirectory())
        var options = OffPolicySimulation.Options()
        options.trainingPrompts = 500
        options.replayPrompts = 300
        options.epsilon = 0.3
        options.confidence = 0.99
        options.seed = 31
        options.feedback = .scorer
        let directory = GatewayHarness.scratchFolder.appendingPathComponent("ope-simulation").path
        let result = try await OffPolicySimulation.run(
            dataset: dataset, encoder: encoder, options: options, directory: directory)
        let report = result.report
        #expect(result.prompts == 300)
        #expect(result.feedback == .scorer)
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

    @Test("a stand-in image names its generator in a PNG tEXt chunk with a valid CRC, and the scorer reads it back")
    func standInImageNamesItsGenerator() {
        #expect(StandInImageServer.crc32(Array("IEND".utf8)) == 0xAE42_6082)
        let image = StandInImageServer.png(generator: "SDXL-Turbo")
        #expect(image.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        #expect(Array(image.suffix(12)) == Array(Data(base64Encoded: StandInImageServer.pngBase64)!.suffix(12)))
        #expect(StandInImageServer.generator(inPNG: image) == "SDXL-Turbo")
        #expect(StandInImageServer.generator(inPNG: [UInt8](Data(base64Encoded: StandInImageServer.pngBase64)!)) == nil)
        #expect(StandInImageServer.generator(inPNG: Array(image.prefix(40))) == nil)
    }
}
