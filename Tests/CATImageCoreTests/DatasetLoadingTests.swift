import Foundation
import Testing

@testable import CATImageCore

@Suite("Loading routing datasets")
struct DatasetLoadingTests {
    private let columns = LongCSVColumns(prompt: "text", generator: "model", quality: "score", id: "id", group: "g")

    private func load(
        _ csv: String, columns: LongCSVColumns? = nil, missing: MissingGeneratorPolicy = .drop
    ) throws -> (RoutingDataset, DatasetLoadReport) {
        var report = DatasetLoadReport()
        let dataset = try RoutingDataset.loadLongCSV(
            TestSupport.temporaryFile(csv), columns: columns ?? self.columns, missing: missing, report: &report)
        return (dataset, report)
    }

    private func expectError(
        _ csv: String, _ code: DatasetError.Code, line: Int? = nil, column: String? = nil,
        columns: LongCSVColumns? = nil
    ) {
        #expect {
            _ = try load(csv, columns: columns)
        } throws: { error in
            guard let error = error as? DatasetError else { return false }
            return error.code == code && (line == nil || error.line == line)
                && (column == nil || error.column == column) && error.file != nil
        }
    }

    @Test("several rows of one (prompt, generator) are samples and are averaged")
    func samplesAreAveraged() throws {
        let (dataset, report) = try load(
            """
            id,text,model,score,g
            1,a cat,A,1.0,x
            1,a cat,A,3.0,x
            1,a cat,B,5.0,x
            2,a dog,A,2.0,y
            2,a dog,B,4.0,y
            """)
        #expect(dataset.promptCount == 2 && dataset.generatorNames == ["A", "B"])
        #expect(dataset.quality(prompt: 0, generator: 0) == 2.0)
        #expect(dataset.sampleCounts[0] == 2)
        #expect(dataset.prompts.map(\.group) == ["x", "y"])
        #expect(report.rowsRead == 5 && report.warnings.isEmpty)
        #expect(!dataset.hasCost)
    }

    @Test("a cost column gives per-prompt costs and generator mean costs")
    func costColumn() throws {
        var columns = self.columns
        columns.cost = "c"
        let (dataset, _) = try load(
            "id,text,model,score,g,c\n1,a,A,1,x,2\n1,a,B,1,x,4\n2,b,A,1,x,6\n2,b,B,1,x,8\n", columns: columns)
        #expect(dataset.cost(prompt: 1, generator: 0) == 6)
        #expect(dataset.generators.map(\.cost) == [4, 6])
    }

    @Test("a prompt missing a generator is dropped and reported")
    func missingGeneratorDropped() throws {
        let (dataset, report) = try load("id,text,model,score,g\n1,a,A,1,x\n1,a,B,2,x\n2,b,A,3,x\n")
        #expect(dataset.prompts.map(\.id) == ["1"])
        #expect(report.droppedPrompts.map(\.id) == ["2"] && report.droppedPrompts[0].missing == ["B"])
        #expect(report.warnings.first?.contains("dropped 1 prompt") == true)
    }

    @Test("with the impute policy a missing cell takes the generator's mean and is reported")
    func missingGeneratorImputed() throws {
        let (dataset, report) = try load(
            "id,text,model,score,g\n1,a,A,1,x\n1,a,B,2,x\n2,b,A,3,x\n3,c,B,4,x\n", missing: .impute)
        #expect(dataset.promptCount == 3)
        #expect(dataset.quality(prompt: 1, generator: 1) == 3)  // mean of B over prompts 1 and 3
        #expect(dataset.quality(prompt: 2, generator: 0) == 2)  // mean of A over prompts 1 and 2
        #expect(report.imputedCells == 2)
    }

    @Test("a missing column is an error that lists the header")
    func missingColumn() {
        #expect {
            _ = try load("id,text,model,g\n1,a,A,x\n")
        } throws: { error in
            let error = error as! DatasetError
            return error.code == .missingColumn && error.column == "score"
                && error.message.contains("id, text, model, g")
        }
    }

    @Test(
        "non-numeric, NaN and infinite quality values are errors at their line", arguments: ["abc", "nan", "inf", ""])
    func badQuality(value: String) {
        expectError("id,text,model,score,g\n1,a,A,1,x\n2,b,A,\(value),x\n", .invalidNumber, line: 3, column: "score")
    }

    @Test("an empty prompt text is an error at its line")
    func emptyPrompt() {
        expectError("id,text,model,score,g\n1,a,A,1,x\n2,\"  \",A,1,x\n", .emptyPrompt, line: 3, column: "text")
    }

    @Test("one prompt id with two texts is an error")
    func inconsistentPrompt() {
        expectError("id,text,model,score,g\n1,a,A,1,x\n1,b,B,1,x\n", .inconsistentPrompt, line: 3)
    }

    @Test("a header with no data rows is an empty-dataset error")
    func emptyDataset() {
        expectError("id,text,model,score,g\n", .emptyDataset)
    }

    @Test("when every prompt lacks some generator the dataset is empty and that is an error")
    func allIncomplete() {
        expectError("id,text,model,score,g\n1,a,A,1,x\n2,b,B,1,x\n", .emptyDataset)
    }

    @Test("a cost table attaches per-generator costs")
    func costTable() throws {
        var (dataset, _) = try load("id,text,model,score,g\n1,a,A,1,x\n1,a,B,2,x\n")
        try dataset.applyCostTable(TestSupport.temporaryFile("generator,cost\nA,0.5\nB,2\n"))
        #expect(dataset.hasCost && dataset.cost(prompt: 0, generator: 1) == 2)
    }

    @Test("a cost table naming an unknown generator is an error at its line")
    func costTableUnknownGenerator() throws {
        var (dataset, _) = try load("id,text,model,score,g\n1,a,A,1,x\n1,a,B,2,x\n")
        #expect {
            try dataset.applyCostTable(TestSupport.temporaryFile("generator,cost\nA,1\nC,2\n"))
        } throws: { error in
            let error = error as! DatasetError
            return error.code == .unknownGenerator && error.line == 3 && error.value == "C"
        }
    }

    @Test("a cost table leaving a generator without cost is an error")
    func costTableIncomplete() throws {
        var (dataset, _) = try load("id,text,model,score,g\n1,a,A,1,x\n1,a,B,2,x\n")
        #expect(throws: DatasetError.self) {
            try dataset.applyCostTable(TestSupport.temporaryFile("generator,cost\nA,1\n"))
        }
    }

    @Test("a cost table overrides measured per-prompt costs")
    func costTableOverrides() throws {
        var report = DatasetLoadReport()
        var dataset = try RoutingDataset.loadCEMS(
            directory: "\(TestSupport.datasets)/cems", metric: "clip", report: &report)
        try dataset.applyCostTable(TestSupport.temporaryFile("generator,cost\nTAESD,9\n"))
        let taesd = dataset.generatorNames.firstIndex(of: "TAESD")!
        #expect(dataset.cost(prompt: 17, generator: taesd) == 9 && dataset.generators[taesd].cost == 9)
    }

    @Test("the CEMS folder reproduces the README's CLIP figures")
    func cemsClipFigures() throws {
        var report = DatasetLoadReport()
        let dataset = try RoutingDataset.loadCEMS(
            directory: "\(TestSupport.datasets)/cems", metric: "clip", report: &report)
        let summary = DatasetSummary(dataset)
        #expect(summary.prompts == 10_000 && summary.generators.count == 4)
        #expect(summary.groups.map(\.prompts).sorted() == [200, 1_632, 8_168])
        #expect(summary.bestSingle.generator == "SDXL-Turbo")
        #expect(abs(summary.bestSingle.quality - 34.619) < 0.0005)
        #expect(abs(summary.bestSingle.cost! - 0.474) < 0.0005)
        #expect(abs(summary.oracle.quality - 36.554) < 0.0005)
        let expected: [String: (Double, Double)] = [
            "SD-Turbo": (34.005, 0.142), "amused": (32.593, 0.398), "TAESD": (34.049, 1.560),
        ]
        for stats in summary.generators where expected[stats.name] != nil {
            #expect(abs(stats.meanQuality - expected[stats.name]!.0) < 0.0005)
            #expect(abs(stats.meanCost! - expected[stats.name]!.1) < 0.0005)
        }
        #expect(abs(summary.generators.map(\.bestShare).reduce(0, +) - 1) < 1e-9)
    }

    @Test("the CEMS folder reproduces the README's NIMA figures")
    func cemsNimaFigures() throws {
        var report = DatasetLoadReport()
        let dataset = try RoutingDataset.loadCEMS(
            directory: "\(TestSupport.datasets)/cems", metric: "nima", report: &report)
        let summary = DatasetSummary(dataset)
        #expect(abs(summary.bestSingle.quality - 5.637) < 0.0005)
        #expect(abs(summary.oracle.quality - 5.817) < 0.0005)
    }

    @Test("EvalMi-50K as a long CSV gives 2,100 prompts x 24 generators, playground 61.6, oracle 67.0")
    func evalmiFigures() throws {
        var report = DatasetLoadReport()
        let dataset = try RoutingDataset.loadLongCSV(
            "\(TestSupport.datasets)/evalmi50k/evalmi50k_long.csv",
            columns: LongCSVColumns(
                prompt: "prompt", generator: "model", quality: "mos_perception", id: "prompt_id", group: "tag"),
            report: &report)
        let summary = DatasetSummary(dataset)
        #expect(summary.prompts == 2_100 && summary.generators.count == 24)
        #expect(report.rowsRead == 50_400 && report.droppedPrompts.isEmpty)
        #expect(summary.bestSingle.generator == "playground")
        #expect(abs(summary.bestSingle.quality - 61.6) < 0.05 && summary.bestSingle.cost == nil)
        #expect(abs(summary.oracle.quality - 67.0) < 0.05)
    }

    @Test("CEMS files that list different prompts are an error naming the file and line")
    func cemsMismatch() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cems-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let header = "dataset_id,prompt_id,prompt,mean_time,clip_score\n"
        try (header + "PP,1,a cat,0.1,30\nPP,2,a dog,0.1,31\n").write(
            toFile: "\(folder)/clip_score_with_time_A.csv", atomically: true, encoding: .utf8)
        try (header + "PP,1,a cat,0.2,29\nPP,3,a cow,0.2,28\n").write(
            toFile: "\(folder)/clip_score_with_time_B.csv", atomically: true, encoding: .utf8)
        var report = DatasetLoadReport()
        #expect {
            _ = try RoutingDataset.loadCEMS(directory: folder, metric: "clip", report: &report)
        } throws: { error in
            let error = error as! DatasetError
            return error.code == .mismatchedFiles && error.line == 3 && error.file!.hasSuffix("_B.csv")
        }
    }

    @Test("a CEMS folder without the metric's files is a clear error")
    func cemsWrongMetric() {
        var report = DatasetLoadReport()
        #expect(throws: DatasetError.self) {
            _ = try RoutingDataset.loadCEMS(directory: "\(TestSupport.datasets)/cems", metric: "fid", report: &report)
        }
    }
}
