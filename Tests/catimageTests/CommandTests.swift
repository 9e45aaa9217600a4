import CATImage
import CATImageCore
import CATImageEncoder
import Foundation
import Testing

/// Small real data for the commands: the EvalMi-50K rows of its first prompts (every generator), and a scratch
/// folder for what the commands write.
enum CommandFixtures {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static let folder: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "catimage-command-tests-\(ProcessInfo.processInfo.processIdentifier)"
        ).path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: CommandFixtures.folder) }
        return path
    }()

    static func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }

    /// A long CSV of the first `prompts` EvalMi-50K prompts (ids 1...prompts), written once.
    static func evalmiSlice(prompts: Int = 30) throws -> String {
        let source = (DatasetLocation.directory(relativeTo: packageRoot) as NSString)
            .appendingPathComponent("evalmi50k/evalmi50k_long.csv")
        guard let text = try? String(contentsOfFile: source, encoding: .utf8) else {
            throw RunnerError(
                "cannot read \(source): set CATIMAGE_DATASETS or run `catimage dataset fetch evalmi50k --mirror DIR`")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        let header = lines.removeFirst()
        let kept = lines.filter { line in
            guard let id = line.split(separator: ",", maxSplits: 1).first.flatMap({ Int($0) }) else { return false }
            return id <= prompts
        }
        let path = path("evalmi-\(prompts).csv")
        try ([String(header)] + kept.map(String.init)).joined(separator: "\n").appending("\n")
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func csvOptions(_ csv: String) -> [String] {
        [
            "--csv", csv, "--id-column", "prompt_id", "--generator-column", "model", "--quality-column",
            "mos_perception",
        ]
    }
}

@Suite("catimage commands, run in-process on EvalMi-50K prompts", .serialized)
struct CommandTests {
    @Test("dataset inspect --json reports the slice's prompts and generators")
    func inspect() async throws {
        let csv = try CommandFixtures.evalmiSlice()
        let run = try await runCatimage(["dataset", "inspect"] + CommandFixtures.csvOptions(csv) + ["--json"])
        #expect(run.status == 0, "\(run.message)")
        let json = try run.json()
        #expect(json["prompts"] as? Int == 30)
        #expect(((json["generators"] as? [Any])?.count ?? 0) > 1)
        #expect(json["metric"] as? String == "mos_perception")
    }

    @Test("a missing column fails with status 1 and names the flag that set it")
    func missingColumn() async throws {
        let csv = try CommandFixtures.evalmiSlice()
        let run = try await runCatimage(
            ["dataset", "inspect", "--csv", csv, "--id-column", "prompt_id", "--generator-column", "model"])
        #expect(run.status == 1)
        #expect(run.message.contains("no column named 'quality'") && run.message.contains("--quality-column"))
    }

    @Test(
        "--auxiliary mistakes fail with a message naming the flag: none for a multi-task estimator, the target, a repeat, an unknown column"
    )
    func auxiliaryMistakes() async throws {
        let csv = try CommandFixtures.evalmiSlice()
        let evaluate = ["evaluate"] + CommandFixtures.csvOptions(csv) + ["--folds", "2"]
        let multiTask = ["--estimator", "transformer:multitask=1:max-steps=1"]
        // Usage mistakes are refused in validate() with status 64 (EX_USAGE), before any data is read; a column the
        // file lacks is found when the data is read, a failure of the run (status 1).
        let cases: [(arguments: [String], status: Int32, says: String)] = [
            (multiTask, 64, "name them with --auxiliary"),
            (multiTask + ["--auxiliary", "mos_perception"], 64, "--auxiliary 'mos_perception' is the target metric"),
            (
                multiTask + ["--auxiliary", "mos_correspondence,mos_correspondence"], 64,
                "--auxiliary names a metric twice"
            ),
            (multiTask + ["--auxiliary", "mos_correspondence,"], 64, "--auxiliary names metrics separated by commas"),
            (multiTask + ["--auxiliary", "nosuch"], 1, "--auxiliary 'nosuch': "),
        ]
        for (arguments, status, says) in cases {
            let run = try await runCatimage(evaluate + arguments)
            #expect(run.status == status, "\(arguments): \(run.message)")
            #expect(run.message.contains(says), "\(arguments): \(run.message)")
        }
    }

    @Test("train writes a router and route decides with it; --json fields name estimator, generators and policy")
    func trainThenRoute() async throws {
        let csv = try CommandFixtures.evalmiSlice()
        let router = CommandFixtures.path("knn.catimage")
        let train = try await runCatimage(
            ["train"] + CommandFixtures.csvOptions(csv) + [
                "--estimator", "knn:k=5", "--calibration-folds", "2", "--cache-dir", CommandFixtures.path("cache"),
                "-o", router, "--json",
            ])
        #expect(train.status == 0, "\(train.message)")
        let summary = try train.json()
        #expect(summary["estimator"] as? String == "knn(k=5)")
        #expect(summary["prompts"] as? Int == 30)
        #expect(summary["output"] as? String == router)
        #expect(FileManager.default.fileExists(atPath: router))

        let route = try await runCatimage(["route", "--router", router, "--json", "a photo of a red bicycle"])
        #expect(route.status == 0, "\(route.message)")
        let decision = try route.json()
        #expect(decision["prompt"] as? String == "a photo of a red bicycle")
        let generators = (summary["generators"] as? [[String: Any]])?.compactMap { $0["name"] as? String } ?? []
        #expect(generators.contains(decision["generator"] as? String ?? "none"), "\(route.output)")
        #expect(decision["lambda"] as? Double == 0)
    }

    @Test("evaluate --json runs two folds quality-only and reports each estimator; --curve-csv writes the curves")
    func evaluate() async throws {
        let csv = try CommandFixtures.evalmiSlice()
        let curves = CommandFixtures.path("curves.csv")
        let run = try await runCatimage(
            ["evaluate"] + CommandFixtures.csvOptions(csv) + [
                "--estimator", "mean,knn:k=5", "--folds", "2", "--cache-dir", CommandFixtures.path("cache"),
                "--curve-csv", curves, "--json",
            ])
        #expect(run.status == 0, "\(run.message)")
        let json = try run.json()
        #expect(json["mode"] as? String == "quality-only")
        let routers = (json["routers"] as? [[String: Any]]) ?? []
        let names = routers.compactMap { ($0["router"] as? [String: Any])?["estimator"] as? String }
        #expect(names == ["mean", "knn(k=5)"])
        let text = try String(contentsOfFile: curves, encoding: .utf8)
        #expect(text.hasPrefix("estimator,lambda,cost,quality\n") && text.contains("\"knn(k=5)\","))
    }

    @Test("evaluate --learning-curve reports each share's training prompts and figures; bad shares are refused")
    func learningCurve() async throws {
        let csv = try CommandFixtures.evalmiSlice()
        let evaluate =
            ["evaluate"] + CommandFixtures.csvOptions(csv) + [
                "--estimator", "mean,knn:k=3", "--folds", "2", "--cache-dir", CommandFixtures.path("cache"),
            ]
        let run = try await runCatimage(evaluate + ["--learning-curve", "1,0.5", "--json"])
        #expect(run.status == 0, "\(run.message)")
        let points = (try run.json()["points"] as? [[String: Any]]) ?? []
        #expect(points.compactMap { $0["share"] as? Double } == [0.5, 1])
        let prompts = points.compactMap { $0["trainPrompts"] as? Double }
        #expect(prompts.count == 2 && prompts[0] < prompts[1] && prompts[1] == 15, "\(prompts)")
        #expect(points.allSatisfy { ($0["routers"] as? [Any])?.count == 2 })
        for (shares, says) in [("0,1", "in (0, 1]"), ("0.5,x", "in (0, 1]"), ("", "in (0, 1]")] {
            let bad = try await runCatimage(evaluate + ["--learning-curve", shares])
            #expect(bad.status == 64 && bad.message.contains("--learning-curve") && bad.message.contains(says))
        }
        let drawn = try await runCatimage(evaluate + ["--learning-curve", "0.5,1", "--svg", "x.svg"])
        #expect(drawn.status == 64 && drawn.message.contains("--svg"))
    }

    @Test(
        "a router with a member on encoder layer 4 trains from the cache and routes; --embeddings cannot give a layer")
    func layerMemberTrainsAndRoutes() async throws {
        let csv = try CommandFixtures.evalmiSlice()
        let router = CommandFixtures.path("layer.catimage")
        let train = try await runCatimage(
            ["train"] + CommandFixtures.csvOptions(csv) + [
                "--estimator", "kernel:tau=0.05+krr:layer=4", "--calibration-folds", "2", "--cache-dir",
                CommandFixtures.path("cache"), "-o", router, "--json",
            ])
        #expect(train.status == 0, "\(train.message)")
        #expect(try train.json()["estimator"] as? String == "kernel(tau=0.05)+krr(tau=0.2,alpha=1)@layer4")
        let route = try await runCatimage(["route", "--router", router, "--json", "a photo of a red bicycle"])
        #expect(route.status == 0, "\(route.message)")
        #expect(try route.json()["generator"] is String)
        let cached = try FileManager.default.contentsOfDirectory(atPath: CommandFixtures.path("cache"))
        #expect(cached.contains { $0.hasSuffix("-mean4") }, "\(cached)")

        // `embed --layer 4` writes the same layer means the router was trained on.
        let prompts = CommandFixtures.path("prompts.txt")
        try "a photo of a red bicycle\nan owl at night\n".write(toFile: prompts, atomically: true, encoding: .utf8)
        let layerFile = CommandFixtures.path("layer4.npy")
        let embed = try await runCatimage([
            "embed", "--input", prompts, "--output", layerFile, "--layer", "4", "--cache-dir",
            CommandFixtures.path("cache"), "--json",
        ])
        #expect(embed.status == 0, "\(embed.message)")
        #expect(try embed.json()["layer"] as? Int == 4)
        let written = try Matrix.readNumpy(contentsOf: layerFile)
        let encoder = try PromptEmbedding.loadEncoder()
        let direct = encoder.encode(["a photo of a red bicycle", "an owl at night"], layerMeans: [4])
        #expect(written.rows == 2 && written.columns == 384)
        #expect(zip(written.storage, direct.layerMeans[4]!.storage).allSatisfy { abs($0 - $1) <= 1e-6 })
        #expect(zip(written.storage, direct.embeddings.storage).contains { abs($0 - $1) > 1e-3 })

        let embeddings = CommandFixtures.path("features.npy")
        try NumPyArray.encode(Matrix(rows: 30, columns: 384)).write(to: URL(fileURLWithPath: embeddings))
        let refused = try await runCatimage(
            ["evaluate"] + CommandFixtures.csvOptions(csv) + [
                "--estimator", "krr:layer=4", "--folds", "2", "--embeddings", embeddings,
            ])
        #expect(refused.status == 1)
        #expect(refused.message.contains("encoder layer 4"), "\(refused.message)")
    }

    @Test("the model folder is --model-dir everywhere; the old --dir still works as a hidden alias")
    func modelDirectoryFlag() async throws {
        let directory = ModelStore.defaultModelDirectory
        let new = try await runCatimage(["model", "info", "--model-dir", directory, "--json"])
        let old = try await runCatimage(["model", "info", "--dir", directory, "--json"])
        #expect(new.status == 0 && old.status == 0, "\(new.message) \(old.message)")
        #expect(try new.json()["weightsDigest"] as? String == old.json()["weightsDigest"] as? String)
        let both = try await runCatimage(["model", "info", "--model-dir", directory, "--dir", directory])
        #expect(both.status != 0 && both.message.contains("--model-dir"))
    }
}
