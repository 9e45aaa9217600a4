import CATImage
import CATImageCore
import CATImageEncoder
import Foundation
import Logging

/// The router a gateway decides with: swapped whole on reload, so a request decides with one router from start to
/// end, and the digest it logs is that router's.
public struct RouterSnapshot: Sendable {
    /// Predicts in the gateway's generator order.
    public let predictor: any QualityPredictor
    /// SHA-256 (hex) of the router file's bytes; `nil` when the file could not be read.
    public let digest: String?
    /// Counts reloads; the prediction pool batches only prompts of one generation together.
    public let generation: Int
}

/// Why a router reload was refused; the running router stays.
public struct RouterReloadError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The file cannot be read or is not a valid router.
        case invalid
        /// The router's generators (or their costs) do not match the running gateway's.
        case mismatch
        /// Another reload is running.
        case busy
    }
    public var code: Code
    public var file: String
    public var message: String

    public init(code: Code, file: String, _ message: String) {
        self.code = code
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}

/// Loads a router file for a reload; the running predictor is given so its encoder can be reused.
public typealias RouterLoader =
    @Sendable (_ path: String, _ running: any QualityPredictor) throws -> any QualityPredictor

/// A predictor whose rows are put in another generator order (a reloaded router listing the same generators in
/// another order).
struct ReorderedPredictor: QualityPredictor {
    let base: any QualityPredictor
    /// For each generator of the gateway's order, its index in `base`'s order.
    let order: [Int]
    let generatorNames: [String]

    var generatorCosts: [Double] { order.map { base.generatorCosts[$0] } }
    var defaultLambda: Double { base.defaultLambda }
    func predictQualities(for prompts: [String]) -> [[Double]] {
        base.predictQualities(for: prompts).map { row in order.map { row[$0] } }
    }
    func lambda(forBudget meanCost: Double) -> Double? { base.lambda(forBudget: meanCost) }
}

extension Gateway {
    /// SHA-256 (hex) of a file's bytes, `nil` when it cannot be read.
    static func digest(ofFile path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return SHA256.hexDigest(of: data)
    }

    /// Loads with the running router's encoder when it is a `Router` trained with the same one (no weights read),
    /// else with the encoder from `modelDirectory`.
    public static func defaultRouterLoader(
        modelDirectory: String?, precision: MiniLM.Precision? = nil
    ) -> RouterLoader {
        { path, running in
            if let router = running as? Router,
                let reloaded = try? Router.load(contentsOf: path, encoder: router.encoder)
            {
                return reloaded
            }
            return try Router.load(contentsOf: path, modelDirectory: modelDirectory, precision: precision)
        }
    }

    /// Checks a loaded router against the running one: the same generators (any order) at the same costs.
    ///
    /// Costs are part of the deployment: the budget controller's window and λ were solved with them, and the log's
    /// costs are theirs. A router retrained on this gateway's own log has them (within rounding); changing costs needs
    /// a restart.
    func adapt(_ predictor: any QualityPredictor, file: String) throws(RouterReloadError) -> any QualityPredictor {
        let names = predictor.generatorNames
        guard Set(names) == Set(generatorNames), names.count == generatorNames.count else {
            throw RouterReloadError(
                code: .mismatch, file: file,
                "the router's generators [\(names.joined(separator: ", "))] do not match the config's "
                    + "[\(generatorNames.joined(separator: ", "))]")
        }
        let order = generatorNames.compactMap { names.firstIndex(of: $0) }
        let adapted: any QualityPredictor =
            order == Array(names.indices)
            ? predictor : ReorderedPredictor(base: predictor, order: order, generatorNames: generatorNames)
        for (index, cost) in adapted.generatorCosts.enumerated()
        where abs(cost - costs[index]) > 1e-6 * max(1, abs(costs[index])) {
            throw RouterReloadError(
                code: .mismatch, file: file,
                "generator \(generatorNames[index]) costs \(cost) in the new router but \(costs[index]) in the running "
                    + "one; the budget controller holds the running costs: restart the gateway to change costs")
        }
        return adapted
    }

    /// Reads the router file again (`config.routerPath`) and, when its generators match, makes it the router of new
    /// requests; requests already deciding finish with the router they started with. Returns the previous and the
    /// new digest. A refused router leaves the running one in place.
    @discardableResult
    public func reloadRouter() async throws(RouterReloadError) -> (previous: String?, current: String?) {
        let path = config.routerPath
        guard beginReload() else {
            throw RouterReloadError(code: .busy, file: path, "another reload is running")
        }
        defer { endReload() }
        guard let data = FileManager.default.contents(atPath: path) else {
            learningMetrics.recordReload("failed")
            throw RouterReloadError(code: .invalid, file: path, "cannot read the router file")
        }
        let digest = SHA256.hexDigest(of: data)
        let running = router
        let loader = routerLoader
        // Loading is CPU and file work: keep it off the cooperative pool, which serves requests meanwhile.
        let loaded: Result<any QualityPredictor, any Error>
        do {
            loaded = .success(try await onOwnThread(name: "catimage-reload") { try loader(path, running.predictor) })
        } catch {
            loaded = .failure(error)
        }
        let predictor: any QualityPredictor
        do {
            predictor = try adapt(try loaded.get(), file: path)
        } catch let error as RouterReloadError {
            learningMetrics.recordReload("refused")
            throw error
        } catch {
            learningMetrics.recordReload("failed")
            throw RouterReloadError(code: .invalid, file: path, "not a valid router: \(error)")
        }
        let previous = install(predictor, digest: digest)
        learningMetrics.recordReload("ok")
        logger.info(
            "router reloaded",
            metadata: ["path": "\(path)", "digest": "\(digest)", "previous": "\(previous.digest ?? "none")"])
        return (previous.digest, digest)
    }

    /// ``reloadRouter()`` for a signal: logs the outcome instead of throwing.
    public func reloadRouterLogging(trigger: String) async {
        do {
            try await reloadRouter()
        } catch {
            logger.error(
                "router reload refused; the running router stays",
                metadata: ["trigger": "\(trigger)", "reason": "\(error)", "digest": "\(router.digest ?? "none")"])
        }
    }
}
