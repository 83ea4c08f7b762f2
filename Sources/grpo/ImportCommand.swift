import ArgumentParser
import Foundation
import Policy

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Read a Hugging Face Glm4Moe or DeepseekV3 folder into a policy checkpoint.",
        discussion: """
            Reads config.json, model.safetensors or its shards (float32, bfloat16 or float16) and tokenizer.json. \
            Settings the policy cannot honour (multi-head latent attention, QK-norm, dense first layers, \
            group-limited routing, partial rotary embedding, attention biases, RoPE scaling, tied embeddings, ...) \
            are refused by name.
            """)

    @Option(name: .customLong("from"), help: "Hugging Face model folder.") var source: String
    @Option(help: "Output checkpoint folder (replaced if it exists).") var out: String

    func run() throws {
        let s = try HuggingFaceImport.run(from: URL(fileURLWithPath: source), to: URL(fileURLWithPath: out))
        let c = s.config
        let keys = c.kvLoraRank.map { "latent (MLA, kv_lora_rank \($0))" } ?? "\(c.keyValueHeads) key-value"
        print(
            "wrote \(out): \(c.numHiddenLayers) layers, hidden \(c.hiddenSize), \(c.numAttentionHeads) query / "
                + keys + " heads, "
                + "\(c.nRoutedExperts) routed + \(c.nSharedExperts) shared experts "
                + "(top \(c.numExpertsPerTok)), vocabulary \(c.vocabSize)")
        print(
            "  \(s.tensors) tensors from \(s.files) file(s) (\(s.dtypes.joined(separator: ", ")) to float32); "
                + s.tokenizer)
        for note in s.notes { print("  note: \(note)") }
    }
}
