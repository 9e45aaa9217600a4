import ArgumentParser
import CATImageCore
import Foundation

/// The options every command that reads a routing dataset shares.
struct DatasetOptions: ParsableArguments {
    @Option(name: .customLong("csv"), help: "A long CSV: one row per (prompt, generator, sample).")
    var csvPath: String?

    @Option(help: "Column of the long CSV holding the prompt text.")
    var promptColumn = "prompt"

    @Option(help: "Column of the long CSV holding the generator name.")
    var generatorColumn = "generator"

    @Option(help: "Column of the long CSV holding the quality score (higher is better).")
    var qualityColumn = "quality"

    @Option(help: "Column of the long CSV holding a prompt id (default: the prompt text is the id).")
    var idColumn: String?

    @Option(help: "Column of the long CSV holding a group (used to stratify splits).")
    var groupColumn: String?

    @Option(help: "Column of the long CSV holding a per-row cost.")
    var costColumn: String?

    @Option(
        name: .customLong("cems"),
        help: "A CEMS folder as published (<metric>_score_with_time_<model>.csv files).")
    var cemsDirectory: String?

    @Option(help: "CEMS metric: clip or nima (default clip). With 'evaluate --log': the feedback metric.")
    var metric: String?

    /// The CEMS metric to load.
    var cemsMetric: String { metric ?? "clip" }

    /// Whether a dataset was named (`evaluate --log` reads a decision log instead).
    var namesDataset: Bool { csvPath != nil || cemsDirectory != nil }

    @Option(
        name: .customLong("costs"), help: "A cost table CSV with header 'generator,cost' to attach or override costs.")
    var costTable: String?

    @Option(help: "What to do with a prompt lacking some generator: drop (reported) or impute (generator mean).")
    var missing: MissingGeneratorPolicy = .drop

    @Option(help: "Use only this many prompts, drawn at random (seeded by --sample-seed): a small-data study.")
    var sample: Int?

    @Option(help: "Seed of the --sample draw.")
    var sampleSeed: UInt64 = 0

    func validate() throws {
        switch (csvPath, cemsDirectory) {
        case (nil, nil):
            // Checked when loading: `evaluate --log` needs no dataset.
            break
        case (.some, .some):
            throw ValidationError("give either --csv or --cems, not both")
        default:
            break
        }
        if let sample, sample < 1 { throw ValidationError("--sample must be at least 1, got \(sample)") }
        if cemsDirectory != nil && !["clip", "nima"].contains(cemsMetric) {
            throw ValidationError("--metric must be clip or nima for a CEMS folder, got '\(cemsMetric)'")
        }
    }

    /// The flag that names the column of `role`.
    static func flag(for role: DatasetError.ColumnRole) -> String {
        switch role {
        case .prompt: return "--prompt-column"
        case .generator: return "--generator-column"
        case .quality: return "--quality-column"
        case .id: return "--id-column"
        case .group: return "--group-column"
        case .cost: return "--cost-column"
        }
    }

    /// Loads the dataset these options name, printing load warnings to standard error; a missing column is
    /// reported with the flag that named it.
    func load() throws -> RoutingDataset {
        do { return try loadAndWarn() } catch let error as DatasetError {
            guard let role = error.role else { throw error }
            throw CommandFailure("\(error.description) (set by \(Self.flag(for: role)))")
        }
    }

    private func loadAndWarn() throws -> RoutingDataset {
        guard namesDataset else {
            throw CommandFailure("name a dataset: --csv FILE (with column options) or --cems DIR")
        }
        var report = DatasetLoadReport()
        var dataset: RoutingDataset
        if let cemsDirectory {
            dataset = try RoutingDataset.loadCEMS(directory: cemsDirectory, metric: cemsMetric, report: &report)
        } else {
            let columns = LongCSVColumns(
                prompt: promptColumn, generator: generatorColumn, quality: qualityColumn, id: idColumn,
                group: groupColumn, cost: costColumn)
            dataset = try RoutingDataset.loadLongCSV(csvPath!, columns: columns, missing: missing, report: &report)
        }
        if let costTable {
            try dataset.applyCostTable(costTable)
        }
        for warning in report.warnings {
            Terminal.warn(warning)
        }
        if !report.droppedPrompts.isEmpty { Terminal.warn("(--missing impute keeps them)") }
        if let sample {
            if sample > dataset.promptCount {
                Terminal.warn("--sample \(sample) exceeds the \(dataset.promptCount) prompts: using all of them")
            }
            dataset = dataset.sample(count: sample, seed: sampleSeed)
        }
        return dataset
    }
}

extension MissingGeneratorPolicy: ExpressibleByArgument {}
