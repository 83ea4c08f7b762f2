import ArgumentParser
import Foundation
import Policy

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint as a Hugging Face Glm4MoeForCausalLM (DeepseekV3ForCausalLM with MLA) folder.",
        discussion: """
            The folder holds config.json, generation_config.json, the weights (model.safetensors, or shards and \
            model.safetensors.index.json past --max-shard-size) and the tokenizer files, so that \
            AutoModelForCausalLM.from_pretrained and AutoTokenizer.from_pretrained load it with no custom code.
            """)

    @Option(help: "Checkpoint folder.") var model: String
    @Option(help: "Output folder (replaced if it exists).") var out: String
    @Option(help: "Weights as float32 or bfloat16.") var dtype = "float32"
    @Option(name: .customLong("max-shard-size"), help: "Largest model.safetensors shard, in bytes.")
    var maxShardSize = HuggingFaceExport.defaultMaxShardBytes

    func validate() throws {
        guard ["float32", "bfloat16"].contains(dtype) else { throw ValidationError("--dtype: float32 or bfloat16") }
        guard maxShardSize > 0 else { throw ValidationError("--max-shard-size must be positive") }
    }

    func run() throws {
        let policy = try Checkpoint.loadModel(from: URL(fileURLWithPath: model))
        let summary = try HuggingFaceExport.export(
            policy, to: URL(fileURLWithPath: out),
            dtype: dtype == "bfloat16" ? .bf16 : .f32,
            maxShardBytes: maxShardSize)
        print(
            "wrote \(out): \(summary.architecture), \(dtype), \(summary.shards) shard(s), "
                + "\(summary.tensorBytes) bytes of weights, \(summary.tokenizer)")
        for file in summary.files { print("  \(file)") }
    }
}
