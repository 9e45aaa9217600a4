import CATImageCore

/// The doubly-robust estimator's reward model: one ridge regression per generator from prompt embeddings to the
/// logged reward, cross-fitted so a row's prediction never comes from a fit that saw it.
///
/// Rows are split into `folds` parts at random; each part is predicted by fits on the other parts, one per
/// action, on that action's rows only. An action with no training rows in the other parts predicts their mean
/// reward. Fits are on the feedback's own scale: a router's predicted qualities are on its training metric's
/// scale, which the feedback need not share, so they are not used as the reward model.
public enum CrossFittedRewardModel {
    /// Out-of-fold predictions `q̂(x_i, a)` `[rows][actionCount]`.
    ///
    /// - Parameters:
    ///   - features: one row per logged row `[n, D]` (the prompt embeddings).
    ///   - alpha: the ridge penalty on centred features (intercept unpenalised).
    public static func predictions(
        features: Matrix, log: LoggedBandit, folds: Int = 2, alpha: Double = 1, seed: UInt64 = 0
    ) throws -> [[Double]] {
        precondition(features.rows == log.count, "one feature row per logged row")
        precondition(folds >= 2, "cross-fitting needs at least two folds")
        // Many small solves: one BLAS thread, the project's default (see `BLAS.setThreadCount`), which the
        // sentence encoder also sets; threaded OpenBLAS spins on small products on a busy machine.
        BLAS.setThreadCount(1)
        let n = log.count
        var order = Array(0..<n)
        var random = SeededGenerator(seed: seed)
        order.shuffle(using: &random)
        var fold = [Int](repeating: 0, count: n)
        for (position, row) in order.enumerated() { fold[row] = position % folds }
        var result = [[Double]](repeating: [Double](repeating: 0, count: log.actionCount), count: n)
        for f in 0..<folds {
            let held = (0..<n).filter { fold[$0] == f }
            let training = (0..<n).filter { fold[$0] != f }
            guard !held.isEmpty else { continue }
            let fallback =
                training.isEmpty ? 0 : training.reduce(0) { $0 + log.rewards[$1] } / Double(training.count)
            for action in 0..<log.actionCount {
                let rows = training.filter { log.actions[$0] == action }
                let predict = try fit(features: features, rows: rows, rewards: log.rewards, alpha: alpha)
                for i in held { result[i][action] = predict?(features.row(i)) ?? fallback }
            }
        }
        return result
    }

    /// A ridge fit on `rows`, or `nil` when there are none.
    static func fit(
        features: Matrix, rows: [Int], rewards: [Double], alpha: Double
    ) throws -> (([Float]) -> Double)? {
        guard !rows.isEmpty else { return nil }
        let d = features.columns
        var means = [Double](repeating: 0, count: d)
        for i in rows { for j in 0..<d { means[j] += Double(features[i, j]) } }
        for j in 0..<d { means[j] /= Double(rows.count) }
        let meanReward = rows.reduce(0) { $0 + rewards[$1] } / Double(rows.count)
        var x = [Double](repeating: 0, count: rows.count * d)
        for (r, i) in rows.enumerated() { for j in 0..<d { x[r * d + j] = Double(features[i, j]) - means[j] } }
        let y = rows.map { rewards[$0] - meanReward }
        let weights = try RidgeSolver.solve(
            centredFeatures: x, rows: rows.count, columns: d, targets: y, outputs: 1, alpha: alpha)
        return { row in
            var value = meanReward
            for j in 0..<d { value += (Double(row[j]) - means[j]) * weights[j] }
            return value
        }
    }
}
