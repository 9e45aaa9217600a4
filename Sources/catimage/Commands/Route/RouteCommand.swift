import ArgumentParser
import CATImage
import Foundation

/// `catimage route`: route prompts with a trained router.
struct RouteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "Choose a generator for each prompt with a trained router.",
        discussion: """
            Prompts come from the arguments, or from standard input one per line (then one JSON decision per \
            line is printed).

            Examples:
              catimage route --router router.catimage "a red car in the rain"
              catimage route --router router.catimage --budget 0.3 --json \\
                "a red car" "a portrait of a cat"
              cat prompts.txt | catimage route --router router.catimage
            """
    )

    @Option(help: "The router file written by 'catimage train'.")
    var router: String

    @OptionGroup var modelFolder: ModelOptions

    @Option(help: "λ of the rule (default: the router's).")
    var lambda: Double?

    @Option(help: "Use the λ whose calibrated mean cost meets this budget.")
    var budget: Double?

    @Flag(help: "Print one JSON decision per line.")
    var json = false

    @Argument(help: "Prompts to route (default: read standard input, one per line).")
    var prompts: [String] = []

    func validate() throws {
        if lambda != nil && budget != nil { throw ValidationError("give --lambda or --budget, not both") }
        if let lambda, !(lambda >= 0) { throw ValidationError("--lambda must be ≥ 0, got \(lambda)") }
        // An empty prompt has nothing to route on; say which argument it was rather than guess a generator.
        if let empty = prompts.firstIndex(where: { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) {
            throw ValidationError("prompt argument \(empty + 1) is empty: give the text to route")
        }
    }

    func run() throws {
        let loaded: Router
        do { loaded = try Router.load(contentsOf: router, modelDirectory: modelFolder.directory) } catch let error
            as RouterFileError
        {
            throw CommandFailure(error.description)
        }
        var chosenLambda = lambda
        if let budget {
            guard loaded.costs.contains(where: { $0 > 0 }) else {
                throw CommandFailure(
                    "\(router) was trained on data without costs: --budget does not apply, use --lambda")
            }
            guard let found = loaded.lambda(forBudget: budget) else {
                let floor = loaded.calibration.map(\.cost).min().map { Format.fixed($0, 4) } ?? "unknown"
                throw CommandFailure("budget \(budget) is below the cheapest routing's calibrated cost (\(floor))")
            }
            chosenLambda = found
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func emit(_ decisions: [RoutingDecision], _ prompts: [String]) throws {
            for (prompt, decision) in zip(prompts, decisions) {
                if json || self.prompts.isEmpty {
                    print(String(decoding: try encoder.encode(Line(prompt: prompt, decision: decision)), as: UTF8.self))
                } else {
                    print("\(Terminal.bold(decision.generator))  ← \(prompt)  (λ = \(decision.lambda))")
                    var table = TextTable(["generator", "predicted quality", "cost", "score"])
                    for c in decision.candidates {
                        table.add([
                            c.generator, Format.fixed(c.predictedQuality, 4), Format.fixed(c.cost, 4),
                            Format.fixed(c.score, 4),
                        ])
                    }
                    print(table.render())
                }
            }
        }
        if !prompts.isEmpty {
            try emit(loaded.decide(prompts: prompts, lambda: chosenLambda), prompts)
            return
        }
        // Standard input: batches keep the encoder busy while decisions stream out.
        var batch: [String] = []
        while let line = readLine() {
            let prompt = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if prompt.isEmpty { continue }
            batch.append(prompt)
            if batch.count == 64 {
                try emit(loaded.decide(prompts: batch, lambda: chosenLambda), batch)
                batch.removeAll()
            }
        }
        if !batch.isEmpty { try emit(loaded.decide(prompts: batch, lambda: chosenLambda), batch) }
    }

    /// One JSON line: the prompt and its decision.
    struct Line: Encodable {
        var prompt: String
        var decision: RoutingDecision

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(prompt, forKey: .prompt)
            try container.encode(decision.generator, forKey: .generator)
            try container.encode(decision.lambda, forKey: .lambda)
            try container.encode(decision.candidates, forKey: .candidates)
        }

        enum Keys: String, CodingKey { case prompt, generator, lambda, candidates }
    }
}
