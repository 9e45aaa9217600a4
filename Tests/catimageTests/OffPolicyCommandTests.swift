import CATImageCore
import CATImageGateway
import Foundation
import Testing

/// A decision log like a gateway with exploration writes, on real CEMS prompts: each prompt served once by an
/// ε-greedy policy (ε = 0.5 over the four generators, around "the cheapest generator"), with the served
/// generator's true CLIP score as feedback, except every fifth request (no feedback) and a few forced requests.
enum LogFixture {
    static func write(to path: String, prompts count: Int = 80, feedback: Bool = true) async throws -> RoutingDataset {
        let folder = (DatasetLocation.directory(relativeTo: CommandFixtures.packageRoot) as NSString)
            .appendingPathComponent("cems")
        var report = DatasetLoadReport()
        let dataset: RoutingDataset
        do { dataset = try RoutingDataset.loadCEMS(directory: folder, metric: "clip", report: &report) } catch {
            throw RunnerError("cannot read CEMS at \(folder) (\(error)): set CATIMAGE_DATASETS")
        }
        let log = try DecisionLog(path: path)
        var random = SeededGenerator(seed: 5)
        let names = dataset.generatorNames
        let epsilon = 0.5
        let rule = names.firstIndex(of: "SD-Turbo") ?? 0
        for p in 0..<count {
            let forced = p % 17 == 3
            let explore = Double.random(in: 0..<1, using: &random) < epsilon
            let action = forced || explore ? Int.random(in: 0..<names.count, using: &random) : rule
            let uniform = epsilon / Double(names.count)
            let propensity = forced ? nil : (action == rule ? 1 - epsilon + uniform : uniform)
            let id = "req-\(p)"
            try await log.append(
                DecisionRecord(
                    time: Date(timeIntervalSince1970: Double(p)), requestID: id, endpoint: "images",
                    prompt: dataset.prompts[p].text, chosenGenerator: names[action], servedBy: names[action],
                    lambda: 1, lambdaSource: "default",
                    predicted: Dictionary(uniqueKeysWithValues: names.map { ($0, 34.0) }),
                    cost: dataset.generators[action].cost, latencyMilliseconds: 5, decisionMilliseconds: 1,
                    status: 200, propensity: propensity, explored: !forced && action != rule,
                    routerDigest: "digest-1"))
            if feedback && p % 5 != 4 {
                try await log.appendFeedback(
                    FeedbackRecord(
                        time: Date(timeIntervalSince1970: Double(p) + 0.5), requestID: id,
                        score: dataset.quality(prompt: p, generator: action), metric: "clip", source: "judge"))
            }
        }
        return dataset
    }
}

@Suite("catimage log export with feedback, train on it, evaluate --log", .serialized)
struct OffPolicyCommandTests {
    @Test(
        "log export fills quality from feedback and adds propensities; train --csv trains on it; evaluate --log estimates the router"
    )
    func exportTrainEvaluate() async throws {
        let db = CommandFixtures.path("ope-decisions.sqlite")
        _ = try await LogFixture.write(to: db)
        let csv = CommandFixtures.path("ope-traffic.csv")
        let export = try await runCatimage(["log", "export", "--db", db, "--metric", "clip", "-o", csv])
        #expect(export.status == 0, "\(export.message)")
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n").map(String.init)
        let header = lines.first?.split(separator: ",").map(String.init) ?? []
        #expect(header.suffix(3) == ["propensity", "explored", "router_digest"])
        // 80 requests, 16 without feedback.
        #expect(lines.count == 1 + 64)
        let quality = try #require(header.firstIndex(of: "quality"))
        #expect(lines.dropFirst().allSatisfy { Double($0.split(separator: ",")[quality]) != nil || $0.contains("\"") })

        let router = CommandFixtures.path("ope-retrained.catimage")
        let train = try await runCatimage([
            "train", "--csv", csv, "--id-column", "prompt_id", "--cost-column", "cost", "--missing", "impute",
            "--estimator", "knn:k=5", "--calibration-folds", "2", "--cache-dir", CommandFixtures.path("cache"),
            "-o", router, "--json",
        ])
        #expect(train.status == 0, "\(train.message)")
        #expect(try train.json()["prompts"] as? Int == 64)

        let evaluate = try await runCatimage(["evaluate", "--log", db, "--router", router, "--lambda", "0", "--json"])
        #expect(evaluate.status == 0, "\(evaluate.message)")
        let json = try evaluate.json()
        let rows = try #require(json["rows"] as? [String: Any])
        #expect(rows["decisions"] as? Int == 80)
        #expect(rows["forced"] as? Int == 5)
        let usable = try #require(rows["usable"] as? Int)
        #expect(usable + (rows["noFeedback"] as? Int ?? 0) == 75)
        let candidate = try #require(json["candidate"] as? [String: Any])
        let dr = try #require(candidate["dr"] as? [String: Any])
        let estimate = try #require(dr["estimate"] as? Double)
        #expect(estimate > 25 && estimate < 45, "a CLIP-scale estimate, got \(estimate)")
        #expect(json["metric"] as? String == "clip")

        let table = try await runCatimage(["evaluate", "--log", db, "--router", router])
        #expect(table.status == 0, "\(table.message)")
        #expect(table.output.contains("DR") && table.output.contains("deployed") && table.output.contains("usable"))
    }

    @Test("evaluate --log on a log without feedback fails with a message saying so")
    func evaluateWithoutFeedback() async throws {
        let db = CommandFixtures.path("ope-no-feedback.sqlite")
        _ = try await LogFixture.write(to: db, prompts: 20, feedback: false)
        let router = CommandFixtures.path("ope-any.catimage")
        let csv = try CommandFixtures.evalmiSlice()
        _ = try await runCatimage(
            ["train"] + CommandFixtures.csvOptions(csv) + [
                "--estimator", "mean", "--calibration-folds", "2", "--cache-dir", CommandFixtures.path("cache"),
                "-o", router,
            ])
        let run = try await runCatimage(["evaluate", "--log", db, "--router", router])
        #expect(run.status == 1)
        #expect(run.message.contains("no feedback"), "\(run.message)")
        let missing = try await runCatimage(["evaluate", "--log", db])
        #expect(missing.status != 0 && missing.message.contains("--router"), "\(missing.message)")
    }
}
