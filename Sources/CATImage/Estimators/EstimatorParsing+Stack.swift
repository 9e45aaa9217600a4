import Foundation

extension EstimatorSpec {
    /// `text` split at every `separator` outside parentheses (a stack's member list stays one piece).
    static func splitTopLevel(_ text: String, on separator: Character) -> [String] {
        var pieces: [String] = []
        var current = ""
        var depth = 0
        for character in text {
            if character == "(" { depth += 1 }
            if character == ")" { depth -= 1 }
            if character == separator && depth == 0 {
                pieces.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        pieces.append(current)
        return pieces
    }

    /// Parses `stack(member,member[,…][,folds=N][,steps=N][,shrink])`, or `stack` alone for kernel + ridge with the
    /// defaults. Members are any estimator `parseList` reads except transformer, auto and stack; `+` inside a
    /// member makes it an ensemble.
    static func parseStack(_ text: String, defaults: EstimatorDefaults) throws -> EstimatorSpec {
        let body = text.dropFirst("stack".count).trimmingCharacters(in: .whitespaces)
        guard !body.isEmpty else {
            return .stack(StackOptions(members: [.kernel(tau: defaults.tau), .ridge(alpha: defaults.alpha)]))
        }
        let inner = String(body.dropFirst().dropLast())
        // Members take no parentheses (nested stacks are refused), so any inside mean a typo.
        guard body.hasPrefix("("), body.hasSuffix(")"), !inner.contains("("), !inner.contains(")") else {
            throw EstimatorError(
                "estimator '\(text)': write a stack as stack(member,member[,folds=N][,steps=N][,shrink]), "
                    + "e.g. stack(kernel:tau=0.05,ridge:alpha=10)")
        }
        var options = StackOptions(members: [])
        for item in inner.split(separator: ",", omittingEmptySubsequences: false) {
            let piece = item.trimmingCharacters(in: .whitespaces)
            guard !piece.isEmpty else { throw EstimatorError("estimator '\(text)': empty stack member") }
            if piece.lowercased() == "shrink" {
                options.shrink = true
                continue
            }
            let pair = piece.split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2, ["folds", "steps"].contains(pair[0].lowercased()) {
                guard let value = Int(pair[1]) else {
                    throw EstimatorError("estimator '\(text)': \(pair[0])=\(pair[1]) is not a whole number")
                }
                if pair[0].lowercased() == "folds" { options.folds = value } else { options.steps = value }
                continue
            }
            let members = try parseList(piece, defaults: defaults)
            options.members += members
        }
        do { try options.validate() } catch let error as EstimatorError {
            throw EstimatorError("estimator '\(text)': \(error.message)")
        }
        return .stack(options)
    }
}
