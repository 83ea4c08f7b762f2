// `grpo sft`'s options: TRL SFTConfig / TrainingArguments names, one table for
// `--help`, the README, the config file and the flags.

import Foundation

extension SFTConfig {
    public typealias Key = OptionKey<SFTConfig>

    public static let options = OptionTable<SFTConfig>(
        command: "sft",
        keys: [
            Key("model", \.model, "Checkpoint folder to start from.", default: "a fresh --shape"),
            Key("shape", \.shape, "Shape of a fresh model (toy, tiny, small, ...)."),
            Key(
                "task_set", \.taskSet,
                "Demonstrations: a task-set name under Tasks/, its folder, or a JSONL of "
                    + "{prompt, completion}.", aliases: ["data", "dataset_name"], default: "required"),
            Key("run_name", \.runName, "Name of the run; the default output folder is runs/<run_name>."),
            Key(
                "output_dir", \.outputDir, "Checkpoints go to DIR/checkpoint-STEP, the model to DIR/final.",
                default: "runs/<run_name>"),
            Key(
                "overwrite_output_dir", \.overwriteOutputDir, "Remove an earlier run's output folder first.",
                saved: false),
            Key(
                "resume_from_checkpoint", \.resumeFromCheckpoint,
                "Continue from a checkpoint-STEP folder, or the latest one in an output folder (its options are "
                    + "read first).", aliases: ["resume"], saved: false),
            Key("json", \.json, "Print a JSON object a logged step on standard output.", saved: false),
            Key("quiet", \.quiet, "No progress on standard error.", saved: false),

            Key("max_steps", \.maxSteps, "Optimizer steps."),
            Key(
                "num_train_epochs", \.numTrainEpochs, "Passes over the examples (sets the steps; not with max_steps).",
                default: "none"),
            Key("per_device_train_batch_size", \.perDeviceTrainBatchSize, "Examples a step.", aliases: ["batch_size"]),
            Key("max_length", \.maxLength, "Longest sequence in tokens; longer completions are cut."),
            Key("learning_rate", \.optimizer.learningRate, "Peak learning rate of AdamW."),
            Key("lr_scheduler_type", \.optimizer.lrSchedulerType, "cosine, linear or constant after warmup."),
            Key("warmup_steps", \.optimizer.warmupSteps, "Steps of linear warmup."),
            Key("weight_decay", \.optimizer.weightDecay, "AdamW's decoupled weight decay."),
            Key("adam_beta1", \.optimizer.adamBeta1, "AdamW's beta1."),
            Key("adam_beta2", \.optimizer.adamBeta2, "AdamW's beta2."),
            Key("adam_epsilon", \.optimizer.adamEpsilon, "AdamW's epsilon."),
            Key("max_grad_norm", \.optimizer.maxGradNorm, "Clip the gradient's global norm to this (0: off)."),
            Key("save_steps", \.saveSteps, "Checkpoint every this many steps (and at the end)."),
            Key("save_total_limit", \.saveTotalLimit, "Keep the newest this many checkpoints (0: all)."),
            Key("logging_steps", \.loggingSteps, "Progress every this many steps."),
            Key("seed", \.seed, "Seed of a fresh model and of the data order."),
            Key(
                "mtp_loss_weight", \.mtpLossWeight,
                "Weight of the multi-token prediction modules' loss (a model with num_nextn_predict_layers)."),
        ],
        refused: [
            ("gradient_accumulation_steps", "a step is one batch; raise per_device_train_batch_size"),
            (
                "report_to",
                CommonRefusals.reportTo.replacingOccurrences(
                    of: "<run>.metrics.jsonl and the traces database", with: "the progress lines and --json")
            ),
            ("packing", "examples are padded to the longest in their batch, never packed"),
            ("bf16", CommonRefusals.precision), ("fp16", CommonRefusals.precision),
            ("push_to_hub", CommonRefusals.hub),
        ])
}
