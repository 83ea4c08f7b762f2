// How `grpo sft` starts a run, as a library call: a resumed run continues from a checkpoint
// (or the latest one in a folder), a new one loads `model` or a random policy of `shape` and
// claims its output folder (never over an earlier run, unless overwrite_output_dir).

import Foundation
import Policy

extension SFTRunner {
    public static func start(_ config: SFTConfig) throws -> SFTRunner {
        var resumeFrom: URL?
        if let resume = config.resumeFromCheckpoint {
            guard !config.overwriteOutputDir else {
                throw RunError(
                    message: "--resume_from_checkpoint continues a run, --overwrite_output_dir replaces it: give one")
            }
            let url = URL(fileURLWithPath: resume)
            resumeFrom =
                FileManager.default.fileExists(atPath: url.appendingPathComponent(Checkpoint.stateFile).path)
                ? url : latestCheckpoint(in: url)
            guard resumeFrom != nil else {
                throw PolicyError.missingFile(url.appendingPathComponent("checkpoint-*").path)
            }
        }
        let policy: Transformer
        if let from = resumeFrom ?? config.model.map({ URL(fileURLWithPath: $0) }) {
            policy = try Checkpoint.loadModel(from: from)
        } else {
            policy = Transformer(config: try ModelConfig.named(config.shape))
            policy.initialize(seed: config.seed)
        }
        let runner = try SFTRunner(config: config, model: policy, resume: resumeFrom)
        if resumeFrom == nil {
            try RunFolder.claim(folder: config.outputFolder, overwrite: config.overwriteOutputDir, command: "sft")
        }
        return runner
    }
}
