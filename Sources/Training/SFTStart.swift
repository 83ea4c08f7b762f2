// How `grpo sft` starts a run, as a library call: a resumed run continues from a checkpoint
// (or the latest one in a folder) with the settings it was started with, a new one loads
// `model` or a random policy of `shape` and claims its output folder (never over an earlier
// run, unless overwrite_output_dir).

import Foundation
import Policy
import Support

extension SFTConfig {
    /// Beside the weights in every SFT checkpoint: the run's options, less the ones that only
    /// say how this one invocation behaves (overwrite, resume, json, quiet).
    public static let savedFile = "sft_config.json"

    /// `grpo sft`'s config: flags over `configFile`. A resumed run given no config file reads
    /// the options saved in its checkpoint, so it continues exactly as it was started; flags
    /// still win (a larger max_steps, say). Checkpoints without the file resume with the flags.
    public static func resolve(
        configFile: String?, flags: [(key: String, value: String, flag: String)]
    ) throws -> SFTConfig {
        let asked = try options.read(file: nil, flags: flags)
        guard configFile == nil, let resume = asked.config.resumeFromCheckpoint else {
            return try load(file: configFile, flags: flags)
        }
        let saved = try SFTRunner.resumePoint(resume).appendingPathComponent(savedFile).path
        guard FileManager.default.fileExists(atPath: saved) else { return try load(file: nil, flags: flags) }
        try checkSteps(given: asked.given, file: "flags")
        var (config, _, places) = try options.read(file: saved, flags: flags)
        // The saved file holds the run's max_steps; a flag's num_train_epochs or max_steps replaces both.
        if asked.given.contains("max_steps") { config.numTrainEpochs = nil }
        try places.checking { try config.validate(file: saved) }
        return config
    }

    static func checkSteps(given: Set<String>, file: String) throws {
        if given.contains("max_steps") && given.contains("num_train_epochs") {
            throw ConfigError(
                file: file, key: "num_train_epochs", message: "give max_steps or num_train_epochs, not both")
        }
    }
}

extension SFTRunner {
    public static func start(_ config: SFTConfig) throws -> SFTRunner {
        var resumeFrom: URL?
        if let resume = config.resumeFromCheckpoint {
            guard !config.overwriteOutputDir else {
                throw RunError(
                    message: "--resume_from_checkpoint continues a run, --overwrite_output_dir replaces it: give one")
            }
            resumeFrom = try resumePoint(resume)
        }
        let policy: Transformer
        if let from = resumeFrom ?? config.model.map({ URL(fileURLWithPath: $0) }) {
            policy = try Checkpoint.loadModel(from: from)
        } else {
            policy = Transformer(config: try ModelConfig.named(config.shape))
            policy.initialize(seed: config.seed)
        }
        let runner = try SFTRunner(config: config, model: policy, resume: resumeFrom)
        if let resumeFrom, runner.step >= runner.maxSteps {
            throw RunError(
                message: "\(resumeFrom.path) is at step \(runner.step) and the run's max_steps is \(runner.maxSteps): "
                    + "nothing to train (give a larger --max_steps or --num_train_epochs to go on)")
        }
        if resumeFrom == nil {
            try RunFolder.claim(folder: config.outputFolder, overwrite: config.overwriteOutputDir, command: "sft")
        }
        return runner
    }

    /// The checkpoint `--resume_from_checkpoint PATH` continues: PATH itself when it is one,
    /// else the latest checkpoint-STEP in it.
    public static func resumePoint(_ path: String) throws -> URL {
        let url = URL(fileURLWithPath: path)
        if FileManager.default.fileExists(atPath: url.appendingPathComponent(Checkpoint.stateFile).path) { return url }
        guard let latest = latestCheckpoint(in: url) else {
            throw PolicyError.missingFile(url.appendingPathComponent("checkpoint-*").path)
        }
        return latest
    }
}
