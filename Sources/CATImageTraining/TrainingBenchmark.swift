import CATImageCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Times optimizer steps of the fine-tuner, for `catimage bench train`.
public enum TrainingBenchmark {
    /// What one benchmark measured.
    public struct Result: Sendable, Codable, Equatable {
        /// Prompts per step.
        public var batchSize: Int
        /// Worker threads.
        public var workers: Int
        /// Steps timed (after the warm-up step).
        public var steps: Int
        /// Wall-clock seconds of each timed step.
        public var stepSeconds: [Double]
        /// Process CPU seconds (all threads) of each timed step: on a shared machine, wall time also counts
        /// waiting for a core, CPU time does not.
        public var cpuSeconds: [Double]
        /// Seconds of forward and backward passes in each timed step.
        public var gradientSeconds: [Double]
        /// Seconds of gradient sum, clipping and AdamW update in each timed step.
        public var updateSeconds: [Double]
        /// Mean padded tokens per prompt over the timed batches.
        public var meanPaddedTokens: Double
        /// Mean seconds per step.
        public var secondsPerStep: Double { stepSeconds.reduce(0, +) / Double(max(1, stepSeconds.count)) }
        /// Mean CPU seconds per step.
        public var cpuSecondsPerStep: Double { cpuSeconds.reduce(0, +) / Double(max(1, cpuSeconds.count)) }
        /// Projected minutes per epoch of `prompts` prompts at this speed.
        public func minutesPerEpoch(prompts: Int) -> Double {
            secondsPerStep * Double((prompts + batchSize - 1) / batchSize) / 60
        }
    }

    /// Runs one warm-up step and `steps` timed steps on length-bucketed batches of `examples` drawn with `seed`,
    /// from `pretrained` with a fresh head (the examples' targets, reference optimizer settings).
    public static func run(
        pretrained: TrainableMiniLM<Float>, examples: [FineTuneExample], batchSize: Int, steps: Int, workers: Int,
        seed: UInt64 = 0
    ) -> Result {
        precondition(steps >= 1 && !examples.isEmpty, "need examples and at least one step")
        let m = examples[0].target.count
        let layout = ParameterLayout(encoder: pretrained.layout.encoder, head: RegressionHeadConfig(outputCount: m))
        var model = TrainableMiniLM<Float>(layout: layout, seed: seed)
        for entry in layout.entries where !entry.isHead {
            let source = pretrained.layout[entry.name]
            for k in 0..<entry.count { model.values[entry.offset + k] = pretrained.values[source.offset + k] }
        }
        let session = TrainingSession(
            model: model, tokens: examples.map(\.tokens),
            targets: examples.map(\.target),
            settings: AdamW.Settings(), totalSteps: steps + 1, seed: seed, workers: workers, clipNorm: 1)
        var generator = SeededGenerator(seed: seed)
        var batches: [[Int]] = []
        while batches.count < steps + 1 {
            batches += TransformerFineTuner.lengthBucketedBatches(
                tokenCounts: examples.map(\.tokens.count), batchSize: batchSize, generator: &generator
            ).filter { $0.count == batchSize }
        }
        session.step(batches[0])
        var seconds: [Double] = []
        var gradientSeconds: [Double] = []
        var cpuSeconds: [Double] = []
        var updateSeconds: [Double] = []
        var padded = 0.0
        for batch in batches[1...steps] {
            let start = ContinuousClock.now
            let cpuStart = processCPUSeconds()
            let result = session.step(batch)
            cpuSeconds.append(processCPUSeconds() - cpuStart)
            seconds.append((ContinuousClock.now - start) / .seconds(1))
            gradientSeconds.append(result.gradientSeconds)
            updateSeconds.append(result.updateSeconds)
            padded += Double(batch.map { examples[$0].tokens.count }.max() ?? 0)
        }
        return Result(
            batchSize: batchSize, workers: workers, steps: steps, stepSeconds: seconds, cpuSeconds: cpuSeconds,
            gradientSeconds: gradientSeconds,
            updateSeconds: updateSeconds,
            meanPaddedTokens: padded / Double(steps))
    }
}

/// CPU time of the whole process (every thread), in seconds.
func processCPUSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
}
