import CATImageCore
import CATImageEncoder
import CATImageGateway
import Foundation

/// The generators a collection renders with: the gateway config's `generators:` section, optionally narrowed.
public struct GeneratorSet: Sendable {
    /// Every generator of the config, by name.
    public let all: [String: GatewayConfig.Backend]
    /// The generators this run renders with, sorted by name.
    public let selected: [String]

    /// - Parameter only: names from `--generators`; `nil` selects every generator of the config.
    public init(config: GatewayConfig, only: [String]? = nil) throws(CollectionError) {
        all = config.generators
        if let only {
            let unknown = only.filter { config.generators[$0] == nil }
            guard unknown.isEmpty else {
                throw CollectionError(
                    .unknownGenerator, file: config.file, value: unknown.joined(separator: ", "),
                    "no such generator in the config's generators section; it has: "
                        + config.generators.keys.sorted().joined(separator: ", "))
            }
            guard !only.isEmpty else {
                throw CollectionError(.invalidOption, file: config.file, "the list of generators is empty")
            }
            selected = Array(Set(only)).sorted()
        } else {
            selected = config.generators.keys.sorted()
        }
    }

    /// The canonical JSON of the whole generators section: what decides the images (backend kind, model and
    /// generation options), not the URL, timeouts, retries or concurrency, so moving a server or tuning its limits
    /// keeps the folder usable. Keys sorted, no spaces.
    public var canonicalJSON: String {
        var object: [String: [String: Any]] = [:]
        for (name, backend) in all {
            var entry: [String: Any] = ["backend": backend.kindName]
            switch backend.kind {
            case .openAIImages(let model, _):
                entry["model"] = model
                if let size = backend.size { entry["size"] = size.text }
            case .a1111(let parameters):
                entry["steps"] = parameters.steps
                entry["cfg_scale"] = parameters.cfgScale
                entry["sampler_name"] = parameters.samplerName
                entry["width"] = parameters.width
                entry["height"] = parameters.height
            }
            object[name] = entry
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// SHA-256 (hex) of ``canonicalJSON``.
    public var digest: String { SHA256.hexDigest(of: Data(canonicalJSON.utf8)) }

    /// Generator names whose entries differ between two canonical JSON texts (added, removed or changed).
    static func differingGenerators(_ first: String, _ second: String) -> [String] {
        func entries(_ text: String) -> [String: String] {
            let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
            return object.mapValues { value in
                let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data()
                return String(decoding: data, as: UTF8.self)
            }
        }
        let a = entries(first)
        let b = entries(second)
        return Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
    }

    /// A backend server and the selected generators it serves; generators with the same base URL share one
    /// server and its concurrency (the smallest `max_concurrency` among them).
    public struct Server: Sendable, Equatable {
        public var baseURL: String
        public var generators: [String]
        public var maxConcurrency: Int
    }

    /// The servers of the selected generators, in order of their first generator's name.
    public var servers: [Server] {
        var result: [Server] = []
        for name in selected {
            guard let backend = all[name] else { continue }
            if let index = result.firstIndex(where: { $0.baseURL == backend.baseURL }) {
                result[index].generators.append(name)
                result[index].maxConcurrency = min(result[index].maxConcurrency, backend.maxConcurrency)
            } else {
                result.append(
                    Server(baseURL: backend.baseURL, generators: [name], maxConcurrency: backend.maxConcurrency))
            }
        }
        return result
    }
}

/// Per-generator costs that replace the measured seconds (dollars, FLOPs): a CSV with header `generator,cost`.
public struct CostTable: Sendable, Equatable {
    public var costs: [String: Double]

    public init(costs: [String: Double]) { self.costs = costs }

    /// Reads the table; every generator named must be one of `known`.
    public static func load(contentsOf path: String, known: Set<String>) throws(CollectionError) -> CostTable {
        let table: CSVTable
        let generatorColumn: Int
        let costColumn: Int
        do {
            table = try CSVTable(contentsOf: path)
            generatorColumn = try table.columnIndex("generator")
            costColumn = try table.columnIndex("cost")
        } catch {
            throw CollectionError(.invalidCostTable, file: path, line: error.line, value: error.value, error.message)
        }
        var costs: [String: Double] = [:]
        for row in table.rows {
            let name = row.fields[generatorColumn].trimmingCharacters(in: .whitespaces)
            guard known.contains(name) else {
                throw CollectionError(
                    .invalidCostTable, file: path, line: row.line, value: name,
                    "no such generator in the config; it has: \(known.sorted().joined(separator: ", "))")
            }
            let text = row.fields[costColumn].trimmingCharacters(in: .whitespaces)
            guard let cost = Double(text), cost.isFinite, cost >= 0 else {
                throw CollectionError(
                    .invalidCostTable, file: path, line: row.line, value: text, "expected a finite cost ≥ 0")
            }
            costs[name] = cost
        }
        return CostTable(costs: costs)
    }
}
