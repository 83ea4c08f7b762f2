// `grpo bench`: sampling, training and log-prob throughput of one shape,
// measured in one process so that ratios (model FLOP utilisation against the
// best sgemm rate) come from the same run. Each figure is the median of
// `repeats` timed runs after a warmup.
//
// MFU's denominator is the best rate this process's `gemm` reaches on the
// products a training step actually runs: the step is run once with the
// products recorded, then the shapes that carry most of its FLOPs are timed
// alone. A step cannot run its products faster than the fastest of them runs
// alone, so MFU stays within (0, 1]; one 512x512x512 product is not the
// machine's capability (with a slow kernel the model's products can beat it).

import Foundation
import Kernels
import Policy
import Support

public struct BenchmarkReport: Codable, Sendable {
    public var shape: String
    public var context: Int?
    public var totalParams: Int
    public var activeParams: Int
    public var blasCore: String
    public var blasPickedByOpenBLAS: String
    public var blasSelection: String
    public var openblasCoretype: String
    public var cpu: String
    public var sgemmGflops: Double
    public var sgemmBestGflops: Double?
    public var sgemmBestShape: String?
    public var sampleTokensPerS: Double?
    public var sampleMsPerDecodeStep: Double?
    /// What the KV cache keeps per token: every layer's keys and values (under MLA, its latent and RoPE key).
    public var kvCacheBytesPerToken: Int
    public var trainTokensPerS: Double?
    public var trainStepS: Double?
    public var trainMfu: Double?
    public var trainGemmShareOfModelFlops: Double?
    public var logprobTokensPerS: Double?
    public var peakRssMb: Double
    public var repeats: Int

    enum CodingKeys: String, CodingKey {
        case shape, context, totalParams = "total_params", activeParams = "active_params", blasCore = "blas_core"
        case blasPickedByOpenBLAS = "blas_picked_by_openblas", blasSelection = "blas_selection"
        case openblasCoretype = "openblas_coretype", cpu, sgemmGflops = "sgemm_gflops"
        case sgemmBestGflops = "sgemm_best_gflops", sgemmBestShape = "sgemm_best_shape"
        case sampleTokensPerS = "sample_tokens_per_s", sampleMsPerDecodeStep = "sample_ms_per_decode_step"
        case kvCacheBytesPerToken = "kv_cache_bytes_per_token"
        case trainTokensPerS = "train_tokens_per_s", trainStepS = "train_step_s", trainMfu = "train_mfu"
        case trainGemmShareOfModelFlops = "train_gemm_flops_over_model_flops"
        case logprobTokensPerS = "logprob_tokens_per_s", peakRssMb = "peak_rss_mb", repeats
    }
}

public enum Benchmark {
    public struct Workload: Sendable {
        public var prompts = 8, completionsPerPrompt = 8, promptLength = 16, newTokens = 64
        public var trainBatch = 64, trainLength = 80
        public init() {}

        /// Sequences of `context` tokens: training and log-probs on batches of about
        /// `tokens` tokens in all, sampling 64 new tokens after a prompt that fills the rest.
        public init(context: Int, tokens: Int = 8192) {
            precondition(context > newTokens, "context must exceed the \(newTokens) sampled tokens")
            trainLength = context
            trainBatch = max(1, tokens / context)
            promptLength = context - newTokens
        }
    }

    public static func run(
        shape: String, config: ModelConfig, repeats: Int, workload w: Workload = Workload(),
        context: Int? = nil,
        phases: Set<String> = ["sample", "train", "logprob"],
        progress: (String) -> Void = { _ in }
    ) throws -> BenchmarkReport {
        var config = config
        config.maxPositionEmbeddings = max(
            config.maxPositionEmbeddings, w.trainLength,
            w.promptLength + w.newTokens)
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
        let sampleTime =
            !phases.contains("sample")
            ? nil
            : try median(repeats) {
                _ = try sampler.generate(
                    promptTokens: prompts, completionsPerPrompt: w.completionsPerPrompt,
                    params: params)
            }
        let sampled = Double(w.prompts * w.completionsPerPrompt * w.newTokens)

        progress("training \(w.trainBatch) x \(w.trainLength)")
        let n = w.trainBatch * w.trainLength
        let tokens = randomTokens(n)
        var targets = [Int32](repeating: -1, count: n)
        for b in 0..<w.trainBatch {
            for t in 0..<(w.trainLength - 1) { targets[b * w.trainLength + t] = tokens[b * w.trainLength + t + 1] }
        }
        var opt = OptimizerConfig()
        opt.learningRate = 1e-4
        let trainer = NextTokenTrainer(model: model, optimizer: opt)
        func trainStep() throws {
            _ = try trainer.step(
                tokens: tokens, targets: targets, batch: w.trainBatch, length: w.trainLength,
                learningRate: 1e-4)
        }
        let trainTime = !phases.contains("train") ? nil : try median(repeats, trainStep)
        let layout = model.layout
        let attentionFlops =
            4.0 * Double(w.trainLength * w.trainLength) * Double(config.hiddenSize)
            * Double(config.numHiddenLayers * w.trainBatch)
        let trainFlops = 3 * (layout.forwardFlopsPerToken * Double(n) + attentionFlops)
        var best: (gflops: Double, shape: GemmShape)?
        var gemmShare: Double?
        if trainTime != nil {
            progress("the training step's products, each alone")
            let products = try GemmRecorder.recording(trainStep)
            gemmShare = products.reduce(0) { $0 + $1.key.flops * Double($1.value) } / trainFlops
            best = bestRate(over: products)
        }

        progress("log-prob forward \(w.trainBatch) x \(w.trainLength)")
        let acts = Activations()
        let logp = FloatBuffer(n)
        let logprobTime =
            !phases.contains("logprob")
            ? nil
            : try median(repeats) {
                let logits = model.forward(
                    tokens: tokens, batch: w.trainBatch, length: w.trainLength, into: acts,
                    saving: false)
                LogProbs.forward(logits, targets: targets, rows: n, vocab: config.vocabSize, logp: logp.pointer)
            }

        let blas = BLASStartup.state
        let cpu = blas.cpu
        return BenchmarkReport(
            shape: shape, context: context, totalParams: layout.count, activeParams: layout.activeCount,
            blasCore: blas.core, blasPickedByOpenBLAS: blas.pickedByOpenBLAS, blasSelection: blas.selection,
            openblasCoretype: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "",
            cpu: "\(cpu.vendor) family \(cpu.family) model \(cpu.model)",
            sgemmGflops: gflops, sgemmBestGflops: best?.gflops, sgemmBestShape: best?.shape.description,
            sampleTokensPerS: sampleTime.map { sampled / $0 },
            sampleMsPerDecodeStep: sampleTime.map { $0 / Double(w.newTokens) * 1000 },
            kvCacheBytesPerToken: 4 * config.numHiddenLayers * config.cacheWidth,
            trainTokensPerS: trainTime.map { Double(n) / $0 }, trainStepS: trainTime,
            trainMfu: trainTime.flatMap { t in best.map { trainFlops / t / ($0.gflops * 1e9) } },
            trainGemmShareOfModelFlops: gemmShare,
            logprobTokensPerS: logprobTime.map { Double(n) / $0 },
            peakRssMb: peakResidentMegabytes(), repeats: repeats)
    }

    /// The best GFLOP/s `gemm` reaches on the shapes that carry 95% of `products`' FLOPs
    /// (at most 24 shapes), each timed alone on fresh operands (median of 3).
    public static func bestRate(over products: [GemmShape: Int]) -> (gflops: Double, shape: GemmShape)? {
        let ranked = products.sorted { $0.key.flops * Double($0.value) > $1.key.flops * Double($1.value) }
        let total = ranked.reduce(0) { $0 + $1.key.flops * Double($1.value) }
        var covered = 0.0
        var best: (gflops: Double, shape: GemmShape)?
        for (shape, count) in ranked.prefix(24) where covered < 0.95 * total {
            covered += shape.flops * Double(count)
            let rate = gemmRate(shape)
            if rate > best?.gflops ?? 0 { best = (rate, shape) }
        }
        return best
    }

    /// GFLOP/s of one product shape through `gemm` (both cores where it splits), median of 3
    /// timings of enough repetitions to last about 20 ms.
    public static func gemmRate(_ s: GemmShape) -> Double {
        let rowsA = s.transA ? s.k : s.m
        let colsA = s.transA ? s.m : s.k
        let rowsB = s.transB ? s.n : s.k
        let colsB = s.transB ? s.k : s.n
        let a = Tensor([rowsA, colsA])
        let b = Tensor([rowsB, colsB])
        let c = Tensor([s.m, s.n])
        for i in 0..<(rowsA * colsA) { a[i] = Float(i % 7) * 0.1 }
        for i in 0..<(rowsB * colsB) { b[i] = Float(i % 5) * 0.1 }
        let reps = max(1, min(10_000, Int(20e-3 * 50e9 / s.flops)))
        let t = try! median(3) {
            for _ in 0..<reps {
                gemm(
                    transA: s.transA, transB: s.transB, m: s.m, n: s.n, k: s.k, a: a.data, lda: colsA,
                    b: b.data, ldb: colsB, c: c.data, ldc: s.n)
            }
        }
        return Double(reps) * s.flops / t / 1e9
    }

    /// GFLOP/s of a square sgemm on all of BLAS's threads (median).
    public static func sgemmRate(size s: Int, repeats: Int) -> Double {
        let a = Tensor([s, s])
        let b = Tensor([s, s])
        let c = Tensor([s, s])
        for i in 0..<(s * s) {
            a[i] = Float(i % 7) * 0.1
            b[i] = Float(i % 5) * 0.1
        }
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
            let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        else { return .nan }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
    }
}
