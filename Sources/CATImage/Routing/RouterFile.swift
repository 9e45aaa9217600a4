import CATImageCore
import Foundation

/// A problem reading or writing a router file.
public struct RouterFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The class of problem; stable for tests and tools.
    public enum Code: String, Sendable, Equatable {
        /// Not readable, or not a safetensors file at all (truncated, garbage).
        case corrupt
        /// A safetensors file, but not a CATImage router.
        case notARouter
        /// Written by a newer CATImage with a format this one does not know.
        case newerVersion
        /// Written by an older CATImage in a layout this one no longer reads (retrain the router).
        case formerVersion
        /// Trained with another encoder (identifier or weights digest differ).
        case encoderMismatch
        /// The file cannot be written.
        case unwritable
    }

    public let code: Code
    public let file: String
    public let message: String

    public init(_ code: Code, file: String, _ message: String) {
        self.code = code
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}

/// The router file: a safetensors file whose `__metadata__` holds `format` (`catimage-router`), `version`
/// and `config` (JSON of ``RouterFileConfig``), and whose tensors are the estimator's arrays, each named
/// `estimator.<name>` (for example `estimator.features` `[N, 384]` and `estimator.targets` `[N, M]` for kNN).
/// A large array the estimator holds under several names (the training features of an ensemble's kernel and krr
/// members) is stored once: the metadata's `aliases` (JSON object) maps each further name to the stored one.
public enum RouterFile {
    /// The `format` metadata value.
    public static let formatTag = "catimage-router"
    /// The newest format version this build writes; it reads this version and older ones.
    ///
    /// Version 3: arrays held under several names are stored once (`aliases`); a file without aliases is written
    /// as version 2, which older builds read. Version 2: every estimator reads texts and frozen features, and the
    /// Transformer's partners are ensemble members. Version 1 files load, except a Transformer whose partners live
    /// inside it (``RouterFileError/Code/formerVersion``).
    public static let version = 3
    /// The version of a file without aliases.
    static let versionWithoutAliases = 2
    /// Arrays of at least this many values are stored once when the estimator holds them under several names
    /// (smaller equal arrays, such as two members' target means, are stored under each name).
    static let aliasMinimumValues = 1_024
    /// Prefix of the estimator's tensor names.
    static let tensorPrefix = "estimator."
}

/// The JSON `config` of a router file.
public struct RouterFileConfig: Sendable, Codable, Equatable {
    /// The encoder the estimator's features come from.
    public struct EncoderInfo: Sendable, Codable, Equatable {
        public var identifier: String
        public var weightsDigest: String
    }

    public var encoder: EncoderInfo
    /// Generator names and the costs the rule uses.
    public var generators: [Generator]
    public var metric: String
    public var costUnit: String
    public var lambdaPolicy: LambdaPolicy
    public var calibration: [CalibrationPoint]
    /// The estimator kind and hyper-parameters (its arrays are the file's tensors).
    public var estimator: EstimatorSpec
}

extension Router {
    /// The file's configuration.
    public var fileConfig: RouterFileConfig {
        RouterFileConfig(
            encoder: .init(identifier: encoderIdentifier, weightsDigest: encoderDigest), generators: generators,
            metric: metric, costUnit: costUnit, lambdaPolicy: lambdaPolicy, calibration: calibration,
            estimator: estimator.spec)
    }

    /// Writes the router as one safetensors file (atomically).
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let config: Data
        do { config = try encoder.encode(fileConfig) } catch {
            throw RouterFileError(.unwritable, file: path, "cannot encode the router configuration: \(error)")
        }
        var tensors: [String: SafetensorsTensor] = [:]
        var stored: [(name: String, tensor: EstimatorTensor)] = []
        var aliases: [String: String] = [:]
        for (name, tensor) in estimator.tensors().sorted(by: { $0.key < $1.key }) {
            let fileName = RouterFile.tensorPrefix + name
            if tensor.values.count >= RouterFile.aliasMinimumValues,
                let same = stored.first(where: { $0.tensor == tensor })
            {
                aliases[fileName] = same.name
                continue
            }
            stored.append((fileName, tensor))
            tensors[fileName] = SafetensorsTensor(shape: tensor.shape, values: tensor.values)
        }
        var metadata = [
            "format": RouterFile.formatTag,
            "version": String(aliases.isEmpty ? RouterFile.versionWithoutAliases : RouterFile.version),
            "config": String(decoding: config, as: UTF8.self),
        ]
        if !aliases.isEmpty {
            do { metadata["aliases"] = String(decoding: try encoder.encode(aliases), as: UTF8.self) } catch {
                throw RouterFileError(.unwritable, file: path, "cannot encode the router's tensor aliases: \(error)")
            }
        }
        do {
            try SafetensorsWriter.write(tensors: tensors, metadata: metadata, to: path)
        } catch {
            throw RouterFileError(.unwritable, file: path, error.message)
        }
    }

    /// Reads a router file's configuration and estimator; `encoder` is the encoder it was trained with, which an
    /// estimator that runs its own encoder (the Transformer) builds on.
    public static func readFile(contentsOf path: String, encoder: (any PromptEncoder)? = nil) throws -> (
        config: RouterFileConfig, estimator: any QualityEstimator
    ) {
        let (file, version, config) = try readHeader(contentsOf: path)
        var tensors: [String: EstimatorTensor] = [:]
        for name in file.tensorNames where name.hasPrefix(RouterFile.tensorPrefix) {
            do {
                let tensor = try file.tensor(named: name)
                tensors[String(name.dropFirst(RouterFile.tensorPrefix.count))] = EstimatorTensor(
                    shape: tensor.shape, values: tensor.values)
            } catch {
                throw RouterFileError(.corrupt, file: path, error.message)
            }
        }
        for (alias, name) in try aliases(in: file, path: path) {
            let aliasKey = alias.dropFirst(RouterFile.tensorPrefix.count)
            let storedKey = name.dropFirst(RouterFile.tensorPrefix.count)
            guard alias.hasPrefix(RouterFile.tensorPrefix), name.hasPrefix(RouterFile.tensorPrefix),
                tensors[String(aliasKey)] == nil, let tensor = tensors[String(storedKey)]
            else {
                throw RouterFileError(
                    .corrupt, file: path,
                    "tensor alias '\(alias)' → '\(name)' does not name one stored tensor by another name")
            }
            // The alias holds the same array (no copy), so ensemble members on it still share their similarities.
            tensors[String(aliasKey)] = tensor
        }
        let estimator: any QualityEstimator
        do { estimator = try config.estimator.restore(tensors, encoder: encoder) } catch let error as EstimatorError {
            guard error.code == .formerLayout else {
                throw RouterFileError(.corrupt, file: path, "estimator cannot be restored: \(error)")
            }
            throw RouterFileError(
                .formerVersion, file: path,
                "written by router file format version \(version) (this catimage writes \(RouterFile.version)): "
                    + error.message)
        } catch {
            throw RouterFileError(.corrupt, file: path, "estimator cannot be restored: \(error)")
        }
        guard estimator.outputCount == config.generators.count else {
            throw RouterFileError(
                .corrupt, file: path,
                "estimator predicts \(estimator.outputCount) generators, the file lists \(config.generators.count)")
        }
        return (config, estimator)
    }

    /// The file's tensor aliases (further name → stored name); empty when it has none.
    private static func aliases(in file: SafetensorsFile, path: String) throws -> [String: String] {
        guard let text = file.metadata["aliases"] else { return [:] }
        do { return try JSONDecoder().decode([String: String].self, from: Data(text.utf8)) } catch {
            throw RouterFileError(.corrupt, file: path, "router tensor aliases are not valid: \(error)")
        }
    }

    /// Reads a router file's format, version and configuration without restoring its estimator.
    public static func readConfig(contentsOf path: String) throws -> RouterFileConfig {
        try readHeader(contentsOf: path).config
    }

    private static func readHeader(contentsOf path: String) throws -> (
        file: SafetensorsFile, version: Int, config: RouterFileConfig
    ) {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(contentsOf: path) } catch {
            throw RouterFileError(.corrupt, file: path, "not a readable router file: \(error.message)")
        }
        guard file.metadata["format"] == RouterFile.formatTag else {
            throw RouterFileError(
                .notARouter, file: path,
                "a safetensors file but not a CATImage router (format '\(file.metadata["format"] ?? "none")')")
        }
        guard let versionText = file.metadata["version"], let version = Int(versionText), version >= 1 else {
            throw RouterFileError(.corrupt, file: path, "router file has no valid version")
        }
        guard version <= RouterFile.version else {
            throw RouterFileError(
                .newerVersion, file: path,
                "router file version \(version) is newer than this catimage reads (\(RouterFile.version)); upgrade catimage"
            )
        }
        let config: RouterFileConfig
        do {
            config = try JSONDecoder().decode(RouterFileConfig.self, from: Data((file.metadata["config"] ?? "").utf8))
        } catch {
            throw RouterFileError(.corrupt, file: path, "router configuration is not valid: \(error)")
        }
        return (file, version, config)
    }

    /// Loads a router file with `encoder`, which must be the encoder it was trained with.
    public static func load(contentsOf path: String, encoder: any PromptEncoder) throws -> Router {
        let config = try readConfig(contentsOf: path)
        guard config.encoder.weightsDigest == encoder.weightsDigest else {
            throw RouterFileError(
                .encoderMismatch, file: path,
                "trained with encoder \(config.encoder.identifier) (weights \(config.encoder.weightsDigest.prefix(16))), "
                    + "but the loaded encoder is \(encoder.modelIdentifier) (weights \(encoder.weightsDigest.prefix(16)))"
            )
        }
        let (_, estimator) = try readFile(contentsOf: path, encoder: encoder)
        do { try encoder.check(canGive: estimator.spec.reads) } catch {
            throw RouterFileError(.encoderMismatch, file: path, "\(error)")
        }
        return Router(
            encoder: encoder, generators: config.generators, estimator: estimator,
            lambdaPolicy: config.lambdaPolicy,
            calibration: config.calibration, metric: config.metric, costUnit: config.costUnit)
    }
}
