import CATImage
import CATImageCore
import CATImageEncoder
import CATImageTestSupport
import Foundation
import Hummingbird
import Testing

@testable import CATImageGateway

/// Corpus replay for every parser of outside data: seeds from `../shared` (and files made from it), plus
/// deterministic mutations of them. Each parser must return a value or throw its module's error type; a trap, an
/// out-of-bounds read or another error type fails the run. The libFuzzer harnesses (`scripts/fuzz.sh`) explore
/// further; every crash they find becomes a seed here.
@Suite("Parser corpus replay (seeds from ../shared, mutated)")
struct ParserReplayTests {
    static let variantsPerSeed = 150

    /// A scratch folder for mutated files, removed with the test process's other scratch files.
    static func scratchFile(_ name: String, _ bytes: [UInt8]) throws -> String {
        let folder = GatewayHarness.scratchFolder.appendingPathComponent("fuzz-replay")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The first `lines` lines of a shared dataset file: a real seed, small enough to mutate many times.
    static func datasetPrefix(_ relative: String, lines: Int) throws -> [UInt8] {
        let path = TestData.datasetsDirectory + "/" + relative
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw MissingSeed(path: path, hint: "set CATIMAGE_DATASETS to the shared datasets folder")
        }
        defer { try? handle.close() }
        let bytes = Array(handle.readData(ofLength: 64 * 1024))
        var newlines = 0
        let end =
            bytes.firstIndex { byte in
                if byte == 0x0A { newlines += 1 }
                return newlines == lines
            } ?? bytes.count
        return Array(bytes[..<end])
    }

    struct MissingSeed: Error, CustomStringConvertible {
        var path: String
        var hint: String
        var description: String { "seed \(path) is missing: \(hint)" }
    }

    /// Asserts `body` returns or throws an error `accepted` recognises, naming the variant otherwise.
    static func expectContract(
        _ name: String, _ index: Int, _ bytes: [UInt8], accepted: (any Error) -> Bool, _ body: () throws -> Void
    ) {
        do {
            try body()
        } catch {
            #expect(
                accepted(error),
                "\(name) variant \(index) (\(bytes.count) bytes, prefix \(bytes.prefix(48))) threw \(type(of: error)): \(error)"
            )
        }
    }

    @Test("the CSV reader and table return records or a located DatasetError for every variant")
    func csvReader() throws {
        var mutator = Mutator(salt: 1)
        let seeds = [
            try Self.datasetPrefix("evalmi50k/evalmi50k_long.csv", lines: 30),
            try Self.datasetPrefix("cems/clip_score_with_time_SD-Turbo.csv", lines: 30),
        ]
        for seed in seeds {
            for (index, bytes) in mutator.variants(of: seed, count: Self.variantsPerSeed).enumerated() {
                Self.expectContract("csv", index, bytes, accepted: { $0 is DatasetError }) {
                    let table = try CSVTable(reader: CSVReader(bytes: bytes, source: "fuzz.csv"))
                    #expect(table.rows.allSatisfy { $0.fields.count == table.header.count })
                }
            }
        }
    }

    @Test("the long-CSV loader and a cost table load or throw DatasetError for every variant")
    func longCSVLoader() throws {
        var mutator = Mutator(salt: 2)
        let seed = try Self.datasetPrefix("evalmi50k/evalmi50k_long.csv", lines: 40)
        let columns = LongCSVColumns(
            prompt: "prompt", generator: "model", quality: "mos_perception", id: "prompt_id", group: "tag")
        for (index, bytes) in mutator.variants(of: seed, count: Self.variantsPerSeed).enumerated() {
            let path = try Self.scratchFile("long.csv", bytes)
            Self.expectContract("long csv", index, bytes, accepted: { $0 is DatasetError }) {
                var report = DatasetLoadReport()
                let dataset = try RoutingDataset.loadLongCSV(path, columns: columns, missing: .drop, report: &report)
                #expect(dataset.prompts.count > 0)
            }
        }
        var report = DatasetLoadReport()
        let base = try RoutingDataset.loadLongCSV(
            try Self.scratchFile("long.csv", seed), columns: columns, missing: .drop, report: &report)
        let table = Array(("generator,cost\n" + base.generatorNames.map { "\($0),1.5" }.joined(separator: "\n")).utf8)
        for (index, bytes) in mutator.variants(of: table, count: Self.variantsPerSeed).enumerated() {
            let path = try Self.scratchFile("costs.csv", bytes)
            var dataset = base
            Self.expectContract("cost table", index, bytes, accepted: { $0 is DatasetError }) {
                try dataset.applyCostTable(path)
                #expect(dataset.generators.allSatisfy { $0.cost.map { $0.isFinite && $0 >= 0 } ?? true })
            }
        }
    }

    @Test("the CEMS folder loader loads or throws DatasetError when one of its files is mutated")
    func cemsLoader() throws {
        var mutator = Mutator(salt: 3)
        let names = ["SD-Turbo", "SDXL-Turbo", "TAESD", "amused"]
        let folder = GatewayHarness.scratchFolder.appendingPathComponent("fuzz-cems")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var seeds: [String: [UInt8]] = [:]
        for name in names {
            seeds[name] = try Self.datasetPrefix("cems/clip_score_with_time_\(name).csv", lines: 25)
            try Data(seeds[name] ?? []).write(to: folder.appendingPathComponent("clip_score_with_time_\(name).csv"))
        }
        for (index, name) in names.enumerated() {
            for (variant, bytes) in mutator.variants(of: seeds[name] ?? [], count: 40).enumerated() {
                let file = folder.appendingPathComponent("clip_score_with_time_\(name).csv")
                try Data(bytes).write(to: file)
                Self.expectContract("cems \(name)", index * 100 + variant, bytes, accepted: { $0 is DatasetError }) {
                    var report = DatasetLoadReport()
                    _ = try RoutingDataset.loadCEMS(directory: folder.path, metric: "clip", report: &report)
                }
            }
            try Data(seeds[name] ?? []).write(to: folder.appendingPathComponent("clip_score_with_time_\(name).csv"))
        }
    }

    @Test("safetensors files open or throw SafetensorsError when their header or data is mutated")
    func safetensors() throws {
        var mutator = Mutator(salt: 4)
        let seed = Array(
            try SafetensorsWriter.encode(
                tensors: [
                    "a.weight": SafetensorsTensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
                    "b": SafetensorsTensor(shape: [4], values: [0.5, -1, 2, 8]),
                ], metadata: ["format": "fuzz-seed"]))
        let headerEnd = 8 + seed.prefix(8).reversed().reduce(0) { $0 << 8 | Int($1) }
        for focus in [0..<headerEnd, 0..<seed.count] {
            for (index, bytes) in mutator.variants(of: seed, count: Self.variantsPerSeed, focus: focus).enumerated() {
                let path = try Self.scratchFile("seed.safetensors", bytes)
                Self.expectContract("safetensors", index, bytes, accepted: { $0 is SafetensorsError }) {
                    let file = try SafetensorsFile(contentsOf: path)
                    for name in file.tensorNames {
                        let tensor = try file.tensor(named: name)
                        #expect(tensor.values.count == tensor.shape.reduce(1, *))
                    }
                }
            }
        }
    }

    @Test("a router file (made from CEMS) reads or throws a CATImage error when its header is mutated")
    func routerFile() async throws {
        var mutator = Mutator(salt: 5)
        let seed = Array(try Data(contentsOf: URL(fileURLWithPath: try await TestRouter.path())))
        let headerEnd = 8 + seed.prefix(8).reversed().reduce(0) { $0 << 8 | Int($1) }
        for (index, bytes) in mutator.variants(of: seed, count: 60, focus: 0..<headerEnd).enumerated() {
            let path = try Self.scratchFile("router.catimage", bytes)
            Self.expectContract(
                "router file", index, bytes, accepted: { $0 is RouterFileError || $0 is EstimatorError }
            ) {
                _ = try Router.readFile(contentsOf: path)
            }
        }
    }

    @Test("the tokenizer's tokenizer.json loads or throws TokenizerError; any text encodes within the length limit")
    func tokenizer() throws {
        var mutator = Mutator(salt: 6)
        let directory = try miniLMDirectory()
        let json = Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/tokenizer.json")))
        // The decisions are in the normalizer, pre-tokenizer and model settings at the start of the file.
        for (index, bytes) in mutator.variants(of: json, count: 40, focus: 0..<4096).enumerated() {
            let path = try Self.scratchFile("tokenizer.json", bytes)
            Self.expectContract("tokenizer.json", index, bytes, accepted: { $0 is TokenizerError }) {
                let tokenizer = try BertTokenizer(tokenizerJSON: path)
                #expect(tokenizer.encode("a photo of a cat", maxLength: 16).count <= 16)
            }
        }
        let tokenizer = try BertTokenizer(directory: directory)
        let prompts = try Self.goldenPrompts()
        for prompt in prompts.prefix(20) {
            for bytes in mutator.variants(of: Array(prompt.utf8), count: 30) {
                let text = String(decoding: bytes, as: UTF8.self)
                for limit in [2, 16, 256] {
                    let ids = tokenizer.encode(text, maxLength: limit)
                    #expect(ids.count <= limit && ids.count >= 2)
                }
            }
        }
    }

    static func goldenPrompts() throws -> [String] {
        let path = TestData.datasetsDirectory + "/../golden/prompts.json"
        guard let data = FileManager.default.contents(atPath: path),
            let prompts = try JSONSerialization.jsonObject(with: data) as? [String]
        else { throw MissingSeed(path: path, hint: "the shared golden folder holds prompts.json") }
        return prompts
    }

    @Test("the gateway's YAML config parses or throws ConfigError for every variant of the example")
    func yamlConfig() throws {
        var mutator = Mutator(salt: 7)
        let seed = Array(GatewayConfig.exampleYAML.utf8)
        for (index, bytes) in mutator.variants(of: seed, count: 2 * Self.variantsPerSeed).enumerated() {
            Self.expectContract("yaml", index, bytes, accepted: { $0 is ConfigError }) {
                _ = try GatewayConfig.parse(
                    yaml: String(decoding: bytes, as: UTF8.self), environment: ["AMUSED_API_KEY": "k"])
            }
        }
    }

    @Test("request bodies decode or are refused with a GatewayError for every variant of real prompts")
    func requestBodies() throws {
        var mutator = Mutator(salt: 8)
        let prompts = try Self.goldenPrompts()
        let seeds = prompts.prefix(10).map { prompt in
            Array(
                #"{"prompt": \#(jsonString(prompt)), "n": 2, "size": "512x512", "lambda": 0.5, "model": "auto"}"#.utf8)
        }
        for seed in seeds {
            for (index, bytes) in mutator.variants(of: seed, count: 60).enumerated() {
                Self.expectContract("request body", index, bytes, accepted: { $0 is GatewayError }) {
                    let request = try CATImageGateway.RequestBody.decode(
                        ImagesRequest.self, from: ByteBuffer(bytes: bytes))
                    _ = try CATImageGateway.RequestBody.prompt(request.prompt, limit: 4000)
                    _ = try checkedLambda(request.lambda, budget: request.budget)
                    _ = request.size.flatMap(ImageSize.init(parsing:))
                }
            }
        }
    }

    @Test(".npy matrices read or throw EstimatorError for every variant")
    func numpy() throws {
        var mutator = Mutator(salt: 9)
        let seed = Array(NumPyArray.encode(Matrix(rows: 3, columns: 4, storage: (0..<12).map(Float.init))))
        for focus in [0..<128, 0..<seed.count] {
            for (index, bytes) in mutator.variants(of: seed, count: Self.variantsPerSeed, focus: focus).enumerated() {
                let path = try Self.scratchFile("m.npy", bytes)
                Self.expectContract("npy", index, bytes, accepted: { $0 is EstimatorError }) {
                    let matrix = try Matrix.readNumpy(contentsOf: path)
                    #expect(matrix.storage.count == matrix.rows * matrix.columns)
                }
            }
        }
    }
}
