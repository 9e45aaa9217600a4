import CATImageEncoder
import Foundation
import Yams

/// A configuration problem, naming the file, the key path, the line and the offending value.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    public var file: String
    /// Dotted key path, e.g. `generators.sdxl-8.steps`.
    public var key: String
    public var line: Int?
    public var value: String?
    public var message: String

    public init(file: String, key: String, line: Int? = nil, value: String? = nil, _ message: String) {
        self.file = file
        self.key = key
        self.line = line
        self.value = value
        self.message = message
    }

    public var description: String {
        var place = file
        if let line { place += ":\(line)" }
        if !key.isEmpty { place += ": \(key)" }
        if let value { return "\(place): \(message) (value: \(value))" }
        return "\(place): \(message)"
    }
}

extension GatewayConfig {
    /// Reads and validates a YAML config file; environment variables supply tokens named by `tokens_env`.
    ///
    /// Relative paths in the file (router, model directory, log) are resolved against the file's folder.
    public static func load(
        contentsOf path: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigError) -> GatewayConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(file: path, key: "", "cannot read the config file: \(error.localizedDescription)")
        }
        let base = (path as NSString).deletingLastPathComponent
        return try parse(yaml: text, file: path, baseDirectory: base, environment: environment)
    }

    /// Parses YAML text; `file` only labels errors, `baseDirectory` resolves relative paths.
    public static func parse(
        yaml text: String, file: String = "<config>", baseDirectory: String = ".",
        environment: [String: String] = [:]
    ) throws(ConfigError) -> GatewayConfig {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ConfigError(file: file, key: "", "the config file is empty")
            }
            root = node
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(file: file, key: "", "not valid YAML: \(error)")
        }
        let reader = try YAMLSection(node: root, path: "", file: file)
        return try reader.gatewayConfig(baseDirectory: baseDirectory, environment: environment)
    }
}

/// One mapping of the YAML tree, with its key path for error messages.
struct YAMLSection {
    let mapping: Node.Mapping
    let path: String
    let file: String
    let line: Int?

    init(node: Node, path: String, file: String) throws(ConfigError) {
        guard let mapping = node.mapping else {
            throw ConfigError(
                file: file, key: path, line: node.mark?.line, value: node.string,
                "expected a mapping of keys to values")
        }
        self.mapping = mapping
        self.path = path
        self.file = file
        self.line = node.mark?.line
    }

    private func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Fails on keys this section does not know, so a typo is not silently ignored.
    func checkKeys(_ known: Set<String>) throws(ConfigError) {
        for (key, _) in mapping {
            let name = key.string ?? ""
            if !known.contains(name) {
                throw ConfigError(
                    file: file, key: keyPath(name), line: key.mark?.line, value: name,
                    "unknown key; expected one of: \(known.sorted().joined(separator: ", "))")
            }
        }
    }

    func node(_ key: String) -> Node? {
        guard let value = mapping[Node(key)] else { return nil }
        if case .scalar(let scalar) = value,
            scalar.tag == Tag(.null) || (scalar.string == "~" && scalar.style == .plain)
        {
            return nil
        }
        return value
    }

    func section(_ key: String) throws(ConfigError) -> YAMLSection? {
        guard let value = node(key) else { return nil }
        return try YAMLSection(node: value, path: keyPath(key), file: file)
    }

    func string(_ key: String) throws(ConfigError) -> String? {
        guard let value = node(key) else { return nil }
        guard case .scalar(let scalar) = value else {
            throw ConfigError(file: file, key: keyPath(key), line: value.mark?.line, "expected a text value")
        }
        return scalar.string
    }

    func requiredString(_ key: String) throws(ConfigError) -> String {
        guard let text = try string(key), !text.isEmpty else {
            throw ConfigError(file: file, key: keyPath(key), line: line, "missing required key")
        }
        return text
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let value = node(key) else { return nil }
        guard let number = value.int else {
            throw ConfigError(
                file: file, key: keyPath(key), line: value.mark?.line, value: value.string, "expected an integer")
        }
        guard range.contains(number) else {
            throw ConfigError(
                file: file, key: keyPath(key), line: value.mark?.line, value: value.string,
                "must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return number
    }

    func double(_ key: String, minimum: Double, exclusive: Bool = false) throws(ConfigError) -> Double? {
        guard let value = node(key) else { return nil }
        guard let number = value.float ?? value.int.map(Double.init), number.isFinite else {
            throw ConfigError(
                file: file, key: keyPath(key), line: value.mark?.line, value: value.string, "expected a finite number")
        }
        if exclusive ? number <= minimum : number < minimum {
            throw ConfigError(
                file: file, key: keyPath(key), line: value.mark?.line, value: value.string,
                "must be \(exclusive ? "greater than" : "at least") \(minimum)")
        }
        return number
    }

    func stringList(_ key: String) throws(ConfigError) -> [String]? {
        guard let value = node(key) else { return nil }
        guard let sequence = value.sequence else {
            throw ConfigError(file: file, key: keyPath(key), line: value.mark?.line, "expected a list")
        }
        var result: [String] = []
        for item in sequence {
            guard case .scalar(let scalar) = item, !scalar.string.isEmpty else {
                throw ConfigError(file: file, key: keyPath(key), line: item.mark?.line, "expected non-empty texts")
            }
            result.append(scalar.string)
        }
        return result
    }

    func error(_ key: String, value: String? = nil, _ message: String) -> ConfigError {
        ConfigError(file: file, key: keyPath(key), line: node(key)?.mark?.line ?? line, value: value, message)
    }
}

extension YAMLSection {
    fileprivate func gatewayConfig(
        baseDirectory: String, environment: [String: String]
    ) throws(ConfigError) -> GatewayConfig {
        try checkKeys([
            "listen", "router", "model_dir", "limits", "auth", "budget", "inference", "log", "generators", "breaker",
            "admission", "connections", "exploration", "scoring", "admin",
        ])
        func resolve(_ path: String) -> String {
            let expanded = (path as NSString).expandingTildeInPath
            if expanded.hasPrefix("/") || baseDirectory.isEmpty { return expanded }
            return (baseDirectory as NSString).appendingPathComponent(expanded)
        }

        guard let generatorsSection = try section("generators"), generatorsSection.mapping.count > 0 else {
            throw ConfigError(file: file, key: "generators", line: line, "missing: give one backend per generator")
        }
        var generators: [String: GatewayConfig.Backend] = [:]
        for (key, value) in generatorsSection.mapping {
            let name = key.string ?? ""
            let backend = try YAMLSection(node: value, path: "generators.\(name)", file: file).backend(
                environment: environment)
            generators[name] = backend
        }
        var config = GatewayConfig(routerPath: resolve(try requiredString("router")), generators: generators)
        config.file = file
        config.modelDirectory = try string("model_dir").map(resolve)

        if let listen = try section("listen") {
            try listen.checkKeys(["host", "port"])
            config.listen.host = try listen.string("host") ?? config.listen.host
            config.listen.port = try listen.int("port", in: 0...65535) ?? config.listen.port
        }
        if let limits = try section("limits") {
            try limits.checkKeys(["max_prompt_chars", "max_body_bytes", "max_images", "max_backend_response_bytes"])
            config.limits.maxPromptCharacters =
                try limits.int("max_prompt_chars", in: 1...1_000_000) ?? config.limits.maxPromptCharacters
            config.limits.maxBodyBytes =
                try limits.int("max_body_bytes", in: 64...(64 << 20)) ?? config.limits.maxBodyBytes
            config.limits.maxImagesPerRequest =
                try limits.int("max_images", in: 1...16) ?? config.limits.maxImagesPerRequest
            config.limits.maxBackendResponseBytes =
                try limits.int("max_backend_response_bytes", in: 1024...(1 << 30))
                ?? config.limits.maxBackendResponseBytes
        }
        if let auth = try section("auth") {
            try auth.checkKeys(["tokens", "tokens_env"])
            var tokens = try auth.stringList("tokens") ?? []
            if let variable = try auth.string("tokens_env") {
                config.auth.tokensEnvironmentVariable = variable
                guard let value = environment[variable] else {
                    throw auth.error("tokens_env", value: variable, "the environment variable is not set")
                }
                tokens += value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                    !$0.isEmpty
                }
            }
            config.auth.tokens = tokens
        }
        if let budget = try section("budget") {
            try budget.checkKeys([
                "target_mean_cost", "window", "warmup", "feedback_horizon", "feedback_gain", "initial_lambda",
            ])
            config.budget.targetMeanCost = try budget.double("target_mean_cost", minimum: 0, exclusive: true)
            config.budget.window = try budget.int("window", in: 8...100_000) ?? config.budget.window
            config.budget.warmup = try budget.int("warmup", in: 1...100_000) ?? config.budget.warmup
            config.budget.feedbackHorizon =
                try budget.int("feedback_horizon", in: 1...1_000_000) ?? config.budget.feedbackHorizon
            config.budget.feedbackGain = try budget.double("feedback_gain", minimum: 0) ?? config.budget.feedbackGain
            config.budget.initialLambda = try budget.double("initial_lambda", minimum: 0)
            if config.budget.warmup > config.budget.window {
                throw budget.error("warmup", value: "\(config.budget.warmup)", "must not exceed budget.window")
            }
        }
        if let inference = try section("inference") {
            try inference.checkKeys(["threads", "max_batch", "precision"])
            if let text = try inference.string("precision") {
                guard let precision = MiniLM.Precision(rawValue: text.lowercased()) else {
                    throw inference.error("precision", value: text, "expected fp32 or bf16")
                }
                config.inference.precision = precision
            }
            config.inference.threads = try inference.int("threads", in: 1...64) ?? config.inference.threads
            config.inference.maxBatch = try inference.int("max_batch", in: 1...1024) ?? config.inference.maxBatch
        }
        if let log = try section("log") {
            try log.checkKeys(["path", "synchronous", "postgres"])
            config.log.path = try log.string("path").map(resolve)
            config.log.postgres = try log.postgresSettings(environment: environment)
            if let mode = try log.string("synchronous") {
                guard let value = GatewayConfig.Log.Synchronous(rawValue: mode) else {
                    throw log.error("synchronous", value: mode, "expected full or normal")
                }
                config.log.synchronous = value
            }
        }
        try readReliability(into: &config)
        try readLearning(into: &config, environment: environment)
        return config
    }

    fileprivate func backend(environment: [String: String]) throws(ConfigError) -> GatewayConfig.Backend {
        let common: Set<String> = ["backend", "base_url", "timeout_seconds", "retries", "max_concurrency"]
        let kindName = try requiredString("backend")
        let baseURL = try requiredString("base_url")
        guard let url = URL(string: baseURL), let scheme = url.scheme, ["http", "https"].contains(scheme),
            url.host != nil
        else {
            throw error("base_url", value: baseURL, "expected an http:// or https:// URL with a host")
        }
        let kind: GatewayConfig.Backend.Kind
        switch kindName {
        case "openai-images":
            try checkKeys(common.union(["model", "api_key_env", "size"]))
            let variable = try string("api_key_env")
            if let variable, environment[variable] == nil {
                throw error("api_key_env", value: variable, "the environment variable is not set")
            }
            kind = .openAIImages(model: try requiredString("model"), apiKeyEnvironmentVariable: variable)
        case "a1111":
            try checkKeys(common.union(["steps", "cfg_scale", "sampler_name", "width", "height"]))
            var parameters = GatewayConfig.Backend.A1111Parameters()
            parameters.steps = try int("steps", in: 1...1000) ?? parameters.steps
            parameters.cfgScale = try double("cfg_scale", minimum: 0) ?? parameters.cfgScale
            parameters.samplerName = try string("sampler_name") ?? parameters.samplerName
            parameters.width = try int("width", in: 8...8192) ?? parameters.width
            parameters.height = try int("height", in: 8...8192) ?? parameters.height
            kind = .a1111(parameters)
        default:
            throw error("backend", value: kindName, "unknown backend; expected openai-images or a1111")
        }
        var backend = GatewayConfig.Backend(
            kind: kind, baseURL: baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL)
        backend.timeoutSeconds = try double("timeout_seconds", minimum: 0, exclusive: true) ?? backend.timeoutSeconds
        backend.retries = try int("retries", in: 0...10) ?? backend.retries
        backend.maxConcurrency = try int("max_concurrency", in: 1...256) ?? backend.maxConcurrency
        if let text = try string("size") {
            guard let size = ImageSize(parsing: text) else {
                throw error("size", value: text, "expected WIDTHxHEIGHT, each 8 to 8192")
            }
            backend.size = size
        }
        return backend
    }
}
