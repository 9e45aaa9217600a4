import Foundation

/// What to do with a prompt that lacks a quality value for some generator.
public enum MissingGeneratorPolicy: String, Sendable, CaseIterable, Codable {
    /// Drop the prompt and report it (the default).
    case drop
    /// Keep the prompt and fill each missing cell with that generator's mean quality (and mean cost) over the
    /// prompts that have it; the cell's sample count is 0. Reported too.
    case impute
}

/// What a loader did besides reading values: prompts dropped or imputed, never silently.
public struct DatasetLoadReport: Sendable, Equatable {
    /// Rows read from the input files (excluding headers).
    public var rowsRead = 0
    /// Prompts dropped for lacking a generator, with the generators they lack.
    public var droppedPrompts: [(id: String, missing: [String])] = []
    /// Cells filled by imputation.
    public var imputedCells = 0

    public init() {}

    /// Lines a person should see about the load.
    public var warnings: [String] {
        var lines: [String] = []
        if !droppedPrompts.isEmpty {
            let examples = droppedPrompts.prefix(3).map { "'\($0.id)' lacks \($0.missing.joined(separator: ", "))" }
            lines.append(
                "dropped \(droppedPrompts.count) prompt(s) missing some generator (e.g. \(examples.joined(separator: "; "))); "
                    + "imputing them with the generator's mean keeps them")
        }
        if imputedCells > 0 {
            lines.append("imputed \(imputedCells) missing (prompt, generator) cell(s) with the generator's mean")
        }
        return lines
    }

    public static func == (lhs: DatasetLoadReport, rhs: DatasetLoadReport) -> Bool {
        lhs.rowsRead == rhs.rowsRead && lhs.imputedCells == rhs.imputedCells
            && lhs.droppedPrompts.map(\.id) == rhs.droppedPrompts.map(\.id)
            && lhs.droppedPrompts.map(\.missing) == rhs.droppedPrompts.map(\.missing)
    }
}

/// Column names of a long CSV: one row per (prompt, generator, sample).
public struct LongCSVColumns: Sendable, Equatable {
    public var prompt: String
    public var generator: String
    public var quality: String
    public var id: String?
    public var group: String?
    public var cost: String?

    public init(
        prompt: String = "prompt", generator: String = "generator", quality: String = "quality", id: String? = nil,
        group: String? = nil, cost: String? = nil
    ) {
        self.prompt = prompt
        self.generator = generator
        self.quality = quality
        self.id = id
        self.group = group
        self.cost = cost
    }
}

/// Parses a finite number from a CSV field, or throws naming the place.
func parseFinite(
    _ text: String, file: String, line: Int, column: String, what: String
) throws(DatasetError) -> Double {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    guard let value = Double(trimmed) else {
        throw DatasetError(
            .invalidNumber, file: file, line: line, column: column, value: text, "\(what) is not a number")
    }
    guard value.isFinite else {
        throw DatasetError(.invalidNumber, file: file, line: line, column: column, value: text, "\(what) is not finite")
    }
    return value
}

/// Parses a finite, non-negative cost from a CSV field, or throws naming the place.
func parseCost(_ text: String, file: String, line: Int, column: String) throws(DatasetError) -> Double {
    let cost = try parseFinite(text, file: file, line: line, column: column, what: "cost")
    if cost < 0 {
        throw DatasetError(.invalidNumber, file: file, line: line, column: column, value: text, "cost is negative")
    }
    return cost
}

extension RoutingDataset {
    /// Loads a long CSV: one row per (prompt, generator, sample); rows of one (prompt, generator) are averaged.
    public static func loadLongCSV(
        _ path: String, columns: LongCSVColumns, missing: MissingGeneratorPolicy = .drop,
        report: inout DatasetLoadReport
    ) throws(DatasetError) -> RoutingDataset {
        let table = try CSVTable(contentsOf: path)
        let promptColumn = try table.columnIndex(columns.prompt, role: .prompt)
        let generatorColumn = try table.columnIndex(columns.generator, role: .generator)
        let qualityColumn = try table.columnIndex(columns.quality, role: .quality)
        let idColumn = try columns.id.map { name throws(DatasetError) in
            try table.columnIndex(name, role: .id)
        }
        let groupColumn = try columns.group.map { name throws(DatasetError) in
            try table.columnIndex(name, role: .group)
        }
        let costColumn = try columns.cost.map { name throws(DatasetError) in
            try table.columnIndex(name, role: .cost)
        }

        var promptIndex: [String: Int] = [:]
        var prompts: [Prompt] = []
        var promptLines: [Int] = []
        var generatorIndex: [String: Int] = [:]
        var generators: [String] = []
        // Sums per (prompt, generator), grown as new prompts and generators appear.
        var cells: [[Int: (quality: Double, cost: Double, count: Int)]] = []

        for row in table.rows {
            let text = row.fields[promptColumn]
            if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw DatasetError(
                    .emptyPrompt, file: path, line: row.line, column: columns.prompt, value: text, "empty prompt text")
            }
            let id = idColumn.map { row.fields[$0] } ?? text
            let generatorName = row.fields[generatorColumn].trimmingCharacters(in: .whitespaces)
            if generatorName.isEmpty {
                throw DatasetError(
                    .invalidOption, file: path, line: row.line, column: columns.generator, value: "",
                    "empty generator name")
            }
            let quality = try parseFinite(
                row.fields[qualityColumn], file: path, line: row.line, column: columns.quality, what: "quality")
            var cost = 0.0
            if let costColumn {
                cost = try parseCost(row.fields[costColumn], file: path, line: row.line, column: columns.cost!)
            }
            let p: Int
            if let existing = promptIndex[id] {
                p = existing
                if prompts[p].text != text {
                    throw DatasetError(
                        .inconsistentPrompt, file: path, line: row.line, column: columns.prompt, value: text,
                        "prompt id '\(id)' has a different text on line \(promptLines[p])")
                }
            } else {
                p = prompts.count
                promptIndex[id] = p
                prompts.append(Prompt(id: id, text: text, group: groupColumn.map { row.fields[$0] }))
                promptLines.append(row.line)
                cells.append([:])
            }
            let g: Int
            if let existing = generatorIndex[generatorName] {
                g = existing
            } else {
                g = generators.count
                generatorIndex[generatorName] = g
                generators.append(generatorName)
            }
            var cell = cells[p][g] ?? (0, 0, 0)
            cell.quality += quality
            cell.cost += cost
            cell.count += 1
            cells[p][g] = cell
            report.rowsRead += 1
        }
        guard !prompts.isEmpty else {
            throw DatasetError(.emptyDataset, file: path, "no data rows after the header")
        }

        let m = generators.count
        var quality = [Double](repeating: .nan, count: prompts.count * m)
        var costs = [Double](repeating: .nan, count: prompts.count * m)
        var counts = [Int](repeating: 0, count: prompts.count * m)
        for p in 0..<prompts.count {
            for (g, cell) in cells[p] {
                quality[p * m + g] = cell.quality / Double(cell.count)
                costs[p * m + g] = cell.cost / Double(cell.count)
                counts[p * m + g] = cell.count
            }
        }
        var dataset = RoutingDataset(
            prompts: prompts, generators: generators.map { Generator(name: $0) }, quality: quality,
            sampleCounts: counts, promptCosts: costColumn == nil ? nil : costs, metric: columns.quality,
            source: path, costUnit: "")
        try dataset.resolveMissing(policy: missing, report: &report, file: path)
        dataset.refreshGeneratorCostsFromPrompts()
        return dataset
    }

    /// Drops or imputes prompts with missing generators (cells with a sample count of 0).
    mutating func resolveMissing(
        policy: MissingGeneratorPolicy, report: inout DatasetLoadReport, file: String
    ) throws(DatasetError) {
        let m = generators.count
        var keep: [Int] = []
        for p in 0..<prompts.count {
            let missing = (0..<m).filter { sampleCounts[p * m + $0] == 0 }
            if missing.isEmpty {
                keep.append(p)
            } else if policy == .drop {
                report.droppedPrompts.append((prompts[p].id, missing.map { generators[$0].name }))
            } else {
                keep.append(p)
            }
        }
        if policy == .impute {
            for g in 0..<m {
                var qualitySum = 0.0
                var costSum = 0.0
                var present = 0
                for p in 0..<prompts.count where sampleCounts[p * m + g] > 0 {
                    qualitySum += quality[p * m + g]
                    costSum += promptCosts?[p * m + g] ?? 0
                    present += 1
                }
                for p in 0..<prompts.count where sampleCounts[p * m + g] == 0 {
                    quality[p * m + g] = qualitySum / Double(present)
                    promptCosts?[p * m + g] = costSum / Double(present)
                    report.imputedCells += 1
                }
            }
        }
        if keep.count != prompts.count { self = subset(keep) }
        guard !prompts.isEmpty else {
            throw DatasetError(
                .emptyDataset, file: file, "no prompt has a quality value for every generator (\(m) generators)")
        }
    }

    /// Loads the CEMS folder as published: `<metric>_score_with_time_<model>.csv`, one file per model, with
    /// columns `dataset_id, prompt_id, prompt, mean_time, <metric>_score`; `mean_time` is the per-prompt cost
    /// in seconds and `dataset_id` the group. All files must list the same prompts in the same order.
    public static func loadCEMS(
        directory: String, metric: String, report: inout DatasetLoadReport
    ) throws(DatasetError) -> RoutingDataset {
        let prefix = "\(metric)_score_with_time_"
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw DatasetError(
                .unreadableFile, file: directory, "cannot list the CEMS folder: \(error.localizedDescription)")
        }
        let files = names.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".csv") }.sorted()
        guard !files.isEmpty else {
            throw DatasetError(
                .unreadableFile, file: directory, value: metric,
                "no \(prefix)<model>.csv files (metric must be one the folder has, e.g. clip or nima)")
        }
        var prompts: [Prompt] = []
        var generators: [Generator] = []
        var columnsOfQuality: [[Double]] = []
        var columnsOfCost: [[Double]] = []
        for name in files {
            let path = (directory as NSString).appendingPathComponent(name)
            let model = String(name.dropFirst(prefix.count).dropLast(4))
            let table = try CSVTable(contentsOf: path)
            let groupColumn = try table.columnIndex("dataset_id")
            let idColumn = try table.columnIndex("prompt_id")
            let promptColumn = try table.columnIndex("prompt")
            let timeColumn = try table.columnIndex("mean_time")
            let scoreColumn = try table.columnIndex("\(metric)_score")
            if !prompts.isEmpty && table.rows.count != prompts.count {
                throw DatasetError(
                    .mismatchedFiles, file: path,
                    "lists \(table.rows.count) prompts, \(files[0]) lists \(prompts.count)")
            }
            var qualities: [Double] = []
            var costs: [Double] = []
            for (position, row) in table.rows.enumerated() {
                let text = row.fields[promptColumn]
                if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                    throw DatasetError(
                        .emptyPrompt, file: path, line: row.line, column: "prompt", value: text, "empty prompt text")
                }
                let prompt = Prompt(id: row.fields[idColumn], text: text, group: row.fields[groupColumn])
                if generators.isEmpty {
                    prompts.append(prompt)
                } else if prompts[position].id != prompt.id || prompts[position].text != prompt.text {
                    throw DatasetError(
                        .mismatchedFiles, file: path, line: row.line, column: "prompt_id", value: prompt.id,
                        "prompt differs from \(files[0]) at the same position ('\(prompts[position].id)')")
                }
                qualities.append(
                    try parseFinite(
                        row.fields[scoreColumn], file: path, line: row.line, column: "\(metric)_score", what: "quality")
                )
                let cost = try parseCost(row.fields[timeColumn], file: path, line: row.line, column: "mean_time")
                costs.append(cost)
                report.rowsRead += 1
            }
            generators.append(Generator(name: model))
            columnsOfQuality.append(qualities)
            columnsOfCost.append(costs)
        }
        guard !prompts.isEmpty else {
            throw DatasetError(.emptyDataset, file: directory, "the CEMS files hold no prompts")
        }
        var seen: [String: Int] = [:]
        for (position, prompt) in prompts.enumerated() {
            if let earlier = seen[prompt.id] {
                throw DatasetError(
                    .inconsistentPrompt, file: (directory as NSString).appendingPathComponent(files[0]),
                    line: position + 2,
                    column: "prompt_id", value: prompt.id, "prompt_id repeats (first on line \(earlier + 2))")
            }
            seen[prompt.id] = position
        }
        let m = generators.count
        var quality = [Double](repeating: 0, count: prompts.count * m)
        var costs = [Double](repeating: 0, count: prompts.count * m)
        for g in 0..<m {
            for p in 0..<prompts.count {
                quality[p * m + g] = columnsOfQuality[g][p]
                costs[p * m + g] = columnsOfCost[g][p]
            }
        }
        var dataset = RoutingDataset(
            prompts: prompts, generators: generators, quality: quality, promptCosts: costs, metric: metric,
            source: directory, costUnit: "s")
        dataset.refreshGeneratorCostsFromPrompts()
        return dataset
    }

    /// Applies a cost table (CSV with a header `generator,cost`): each listed generator's cost is set, replacing
    /// any per-prompt costs it had. Naming an unknown generator is an error; so is leaving a generator without
    /// any cost when the dataset had none.
    public mutating func applyCostTable(_ path: String) throws(DatasetError) {
        let table = try CSVTable(contentsOf: path)
        let nameColumn = try table.columnIndex("generator")
        let costColumn = try table.columnIndex("cost")
        var assigned: [Int: Double] = [:]
        var lineOf: [Int: Int] = [:]
        for row in table.rows {
            let name = row.fields[nameColumn].trimmingCharacters(in: .whitespaces)
            guard let g = generators.firstIndex(where: { $0.name == name }) else {
                throw DatasetError(
                    .unknownGenerator, file: path, line: row.line, column: "generator", value: name,
                    "no generator of that name in the dataset (it has: \(generatorNames.joined(separator: ", ")))")
            }
            if let earlier = lineOf[g] {
                throw DatasetError(
                    .duplicateGenerator, file: path, line: row.line, column: "generator", value: name,
                    "generator '\(name)' is listed twice: lines \(earlier) and \(row.line)")
            }
            lineOf[g] = row.line
            let cost = try parseCost(row.fields[costColumn], file: path, line: row.line, column: "cost")
            assigned[g] = cost
        }
        if promptCosts == nil {
            let missing = generators.indices.filter { assigned[$0] == nil && generators[$0].cost == nil }
            if !missing.isEmpty {
                throw DatasetError(
                    .missingGenerator, file: path,
                    "no cost for generator(s) \(missing.map { generators[$0].name }.joined(separator: ", "))")
            }
        }
        let m = generators.count
        for (g, cost) in assigned {
            generators[g].cost = cost
            if promptCosts != nil {
                for p in 0..<prompts.count { promptCosts![p * m + g] = cost }
            }
        }
        if !assigned.isEmpty && costUnit == "s" && promptCosts == nil { costUnit = "" }
    }
}
