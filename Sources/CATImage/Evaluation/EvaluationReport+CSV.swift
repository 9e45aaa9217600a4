extension EvaluationReport {
    /// Every router's deferral curve as CSV, `estimator,lambda,cost,quality`, one row per point.
    public func curveCSV() -> String {
        var lines = ["estimator,lambda,cost,quality"]
        for router in routers {
            for point in router.curve {
                lines.append("\"\(router.router.estimator)\",\(point.lambda ?? 0),\(point.cost),\(point.quality)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
