import ArgumentParser
import Foundation
import Policy

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Sample completions of a prompt from a checkpoint.")

    @Option(help: "Checkpoint folder.") var checkpoint: String
    @Option(help: "Prompt text (a bos token is put before it).") var prompt: String
    @Option(name: .short, help: "Completions to sample.") var n = 1
    @Option var temperature: Float = 1
    @Option(name: .customLong("top-p")) var topP: Float = 1
    @Option(name: .customLong("top-k")) var topK = 0
    @Option(name: .customLong("max-new-tokens")) var maxNewTokens = 128
    @Option(help: "Stop after this string (repeatable).") var stop: [String] = []
    @Option var seed: UInt64 = 0
    @Option(
        name: .customLong("num-speculative-tokens"),
        help: "Tokens the model's multi-token prediction module drafts a step (self-speculative sampling).")
    var numSpeculativeTokens = 0
    @Flag(help: "Greedy decoding (temperature 0).") var greedy = false
    @Flag(help: "One JSON object per completion.") var json = false

    func validate() throws {
        guard n >= 1 else { throw ValidationError("-n must be at least 1") }
    }

    func run() throws {
        let model = try Checkpoint.loadModel(from: URL(fileURLWithPath: checkpoint))
        let params = SamplingParams(
            temperature: greedy ? 0 : temperature, topP: topP, topK: topK,
            maxNewTokens: maxNewTokens, stop: stop, seed: seed, numSpeculativeTokens: numSpeculativeTokens)
        let completions = try Sampler(model: model).generate(
            prompts: [prompt], completionsPerPrompt: n, params: params)[0]
        for (i, c) in completions.enumerated() {
            if json {
                let object: [String: Any] = [
                    "index": i, "text": c.text, "finish_reason": c.finishReason.rawValue,
                    "tokens": c.tokens.count, "token_ids": c.tokens.map(Int.init),
                    "logprob_sum": c.logprobs.reduce(0, +),
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(data: data, encoding: .utf8)!)
            } else {
                let lp = String(format: "%.2f", c.logprobs.reduce(0, +))
                print("--- \(i) (\(c.tokens.count) tokens, \(c.finishReason.rawValue), logprob \(lp))")
                print(c.text)
            }
        }
    }
}
