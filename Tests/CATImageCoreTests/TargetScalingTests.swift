import CATImageCore
import Testing

struct TargetScalingTests {
    @Test("relative targets remove the prompt's mean and map back up to a per-prompt constant")
    func relativeTargets() {
        let quality: [[Double]] = [[1, 2, 6], [3, 3, 3], [0, 4, 2], [5, 1, 3]]
        let scaler = TargetScaling(kind: .relative, quality: quality)
        let targets = quality.map(scaler.target(fromQuality:))
        for j in 0..<3 {
            let column = targets.map { $0[j] }
            let mean = column.reduce(0, +) / 4
            let variance = column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 4
            #expect(abs(mean) < 1e-12 && abs(variance - 1) < 1e-9)
        }
        for (row, target) in zip(quality, targets) {
            let back = scaler.quality(fromTarget: target)
            let shift = back[0] - row[0]
            for j in 0..<3 { #expect(abs(back[j] - row[j] - shift) < 1e-9) }
        }
        let absolute = TargetScaling(kind: .absolute, quality: quality)
        for row in quality {
            let back = absolute.quality(fromTarget: absolute.target(fromQuality: row))
            for j in 0..<3 { #expect(abs(back[j] - row[j]) < 1e-9) }
        }
    }
}
