// `grpo bench`: the figures the Policy issue sets, measured in one process so
// that ratios (model FLOP utilisation against the sgemm rate) come from the
// same run. Each figure is the median of `repeats` timed runs after a warmup.

import Foundation
import Kernels
import Policy

public struct BenchmarkReport: Codable, Sendable {
    public var shape: String
    public var totalParams: Int
    public var activeParams: Int
    public var blasCore: String
    public var openblasCoretype: String
    public var sgemmGflops: Double
    public var sampleTokensPerS: Double?
    public var sampleMsPerDecodeStep: Double?
    public var trainTokensPerS: Double?
    public var trainStepS: Double?
    public var trainMfu: Double?
    public var logprobTokensPerS: Double?
    public var peakRssMb: Double
    public var repeats: Int

    enum CodingKeys: String, CodingKey {
        case shape, totalParams = "total_params", activeParams = "active_params", blasCore = "blas_core"
        case openblasCoretype = "openblas_coretype", sgemmGflops = "sgemm_gflops"
        case sampleTokensPerS = "sample_tokens_per_s", sampleMsPerDecodeStep = "sample_ms_per_decode_step"
        case trainTokensPerS = "train_tokens_per_s", trainStepS = "train_step_s", trainMfu = "train_mfu"
        case logprobTokensPerS = "logprob_tokens_per_s", peakRssMb = "peak_rss_mb", repeats
    }
}

public enum Benchmark {
    public struct Workload: Sendable {
        public var prompts = 8, completionsPerPrompt = 8, promptLength = 16, newTokens = 64
        public var trainBatch = 64, trainLength = 80
        public init() {}
    }

    public static func run(shape: String, config: ModelConfig, repeats: Int, workload w: Workload = Workload(),
                           phases: Set<String> = ["sample", "train", "logprob"],
                           progress: (String) -> Void = { _ in }) throws -> BenchmarkReport {
        let model = Transformer(config: config)
        model.initialize(seed: 0)
        var rng = Xoshiro(seed: 1)
        func randomTokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % 256) } }

        progress("sgemm 512x512x512")
        let gflops = sgemmRate(size: 512, repeats: max(5, repeats))

        progress("sampling \(w.prompts) x \(w.completionsPerPrompt) x \(w.newTokens) tokens")
        let sampler = Sampler(model: model)
        let prompts = (0..<w.prompts).map { _ in [Int32(config.bosTokenId)] + randomTokens(w.promptLength - 1) }
        let params = SamplingParams(temperature: 1, maxNewTokens: w.newTokens, seed: 7, ignoreEOS: true)
        let sampleTime = !phases.contains("sample") ? nil : try median(repeats) {
            _ = try sampler.generate(promptTokens: prompts, completionsPerPrompt: w.completionsPerPrompt, params: params)
        }
        let sampled = Double(w.prompts * w.completionsPerPrompt * w.newTokens)

        progress("training \(w.trainBatch) x \(w.trainLength)")
        let n = w.trainBatch * w.trainLength
        let tokens = randomTokens(n)
        var targets = [Int32](repeating: -1, count: n)
        for b in 0..<w.trainBatch { for t in 0..<(w.trainLength - 1) { targets[b * w.trainLength + t] = tokens[b * w.trainLength + t + 1] } }
        var opt = OptimizerConfig(); opt.learningRate = 1e-4
        let trainer = NextTokenTrainer(model: model, optimizer: opt)
        let trainTime = !phases.contains("train") ? nil : try median(repeats) {
            _ = try trainer.step(tokens: tokens, targets: targets, batch: w.trainBatch, length: w.trainLength, learningRate: 1e-4)
        }
        let layout = model.layout
        let attentionFlops = 4.0 * Double(w.trainLength * w.trainLength * config.hiddenSize * config.numHiddenLayers * w.trainBatch)
        let trainFlops = 3 * (layout.forwardFlopsPerToken * Double(n) + attentionFlops)

        progress("log-prob forward \(w.trainBatch) x \(w.trainLength)")
        let acts = Activations()
        let logp = FloatBuffer(n)
        let logprobTime = !phases.contains("logprob") ? nil : try median(repeats) {
            let logits = model.forward(tokens: tokens, batch: w.trainBatch, length: w.trainLength, into: acts, saving: false)
            LogProbs.forward(logits, targets: targets, rows: n, vocab: config.vocabSize, logp: logp.pointer)
        }

        return BenchmarkReport(
            shape: shape, totalParams: layout.count, activeParams: layout.activeCount,
            blasCore: BLAS.coreName.trimmingCharacters(in: .whitespaces),
            openblasCoretype: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "",
            sgemmGflops: gflops,
            sampleTokensPerS: sampleTime.map { sampled / $0 },
            sampleMsPerDecodeStep: sampleTime.map { $0 / Double(w.newTokens) * 1000 },
            trainTokensPerS: trainTime.map { Double(n) / $0 }, trainStepS: trainTime,
            trainMfu: trainTime.map { trainFlops / $0 / (gflops * 1e9) },
            logprobTokensPerS: logprobTime.map { Double(n) / $0 },
            peakRssMb: peakResidentMegabytes(), repeats: repeats)
    }

    /// GFLOP/s of a square sgemm on all of BLAS's threads (median).
    public static func sgemmRate(size s: Int, repeats: Int) -> Double {
        let a = Tensor([s, s]), b = Tensor([s, s]), c = Tensor([s, s])
        for i in 0..<(s * s) { a[i] = Float(i % 7) * 0.1; b[i] = Float(i % 5) * 0.1 }
        let t = try! median(repeats) {
            for _ in 0..<4 { gemm(m: s, n: s, k: s, a: a.data, lda: s, b: b.data, ldb: s, c: c.data, ldc: s) }
        }
        return 4 * 2 * Double(s * s * s) / t / 1e9
    }

    /// Median wall time of `repeats` runs, after one untimed warmup run.
    static func median(_ repeats: Int, _ body: () throws -> Void) throws -> Double {
        try body()
        var times: [Double] = []
        for _ in 0..<max(1, repeats) {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        times.sort()
        return times[times.count / 2]
    }

    /// Peak resident set size of this process so far (Linux reports kilobytes).
    public static func peakResidentMegabytes() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    /// Resident now (/proc/self/statm), in MB.
    public static func residentMegabytes() -> Double {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) else { return .nan }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
    }
}
