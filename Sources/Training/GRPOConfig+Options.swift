// `grpo train`'s options: the one table `--help`, the README, the config file,
// the flags and the saved grpo_config.json all follow.

extension GRPOConfig {
    public typealias Key = OptionKey<GRPOConfig>

    public static let options = OptionTable<GRPOConfig>(
        command: "train",
        keys: [
            Key("model", \.model, "Checkpoint folder of the policy to start from.", default: "required"),
            Key("task_set", \.taskSet, "Task set: a name under Tasks/ or a folder.", default: "required"),
            Key("split", \.split, "Split to train on."),
            Key("rules", \.rules, "Rule set: a name under Rewards/ or a file.", default: "the task set's"),
            Key(
                "reward_weights", \.rewardWeights,
                "Rule weights replacing the rule set's: a list in its order, or rule=weight.", default: "the rule set's"
            ),
            Key("run_name", \.runName, "Name of the run in the traces.", default: "<task_set>-grpo"),
            Key("output_dir", \.outputDir, "Checkpoints, final model and plots go here.", default: "runs/<run_name>"),
            Key(
                "db", \.db, "Trace database; the metrics JSON lines go beside it (<db>.metrics.jsonl).",
                default: "runs/<run_name>.sqlite", saved: false),
            Key(
                "overwrite_output_dir", \.overwriteOutputDir,
                "Remove an earlier run's output folder, metrics file and traces first.", saved: false),
            Key(
                "resume_from_checkpoint", \.resumeFromCheckpoint,
                "Continue a run from its checkpoint-STEP folder (its config is read first).", aliases: ["resume"],
                saved: false),
            Key("json", \.json, "Print each logged step's metrics as a JSON line on standard output.", saved: false),
            Key("quiet", \.quiet, "No progress on standard error.", saved: false),

            Key("num_generations", \.numGenerations, "Completions sampled a prompt (the group); at least 2."),
            Key(
                "prompts_per_step", \.promptsPerStep, "Prompts a step; the batch is prompts_per_step x num_generations."
            ),
            Key(
                "max_completion_length", \.maxCompletionLength, "Longest completion in tokens.",
                default: "the task set's"),
            Key(
                "max_prompt_length", \.maxPromptLength,
                "Refuse training prompts longer than this (tokens); none are cut.",
                default: "none"),
            Key("temperature", \.temperature, "Sampling temperature."),
            Key("top_p", \.topP, "Nucleus sampling: the smallest set of tokens holding this probability."),
            Key("top_k", \.topK, "Sample among the k likeliest tokens (0: all)."),
            Key(
                "num_speculative_tokens", \.numSpeculativeTokens,
                "Tokens the policy's multi-token prediction module drafts a step (0: off); the samples keep "
                    + "the policy's distribution."),

            Key("learning_rate", \.learningRate, "Peak learning rate of AdamW."),
            Key("lr_scheduler_type", \.lrSchedulerType, "linear (to 0 at the last update), constant or cosine."),
            Key("warmup_steps", \.warmupSteps, "Optimizer updates of linear warmup."),
            Key("weight_decay", \.weightDecay, "AdamW's decoupled weight decay."),
            Key("adam_beta1", \.adamBeta1, "AdamW's beta1."),
            Key("adam_beta2", \.adamBeta2, "AdamW's beta2."),
            Key("adam_epsilon", \.adamEpsilon, "AdamW's epsilon."),
            Key("max_grad_norm", \.maxGradNorm, "Clip the gradient's global norm to this."),
            Key(
                "gradient_accumulation_steps", \.gradientAccumulationSteps,
                "Micro-batches a batch is cut into, accumulated into one update.", default: "by padding"),

            Key("beta", \.beta, "KL coefficient against the starting policy (0: no reference model)."),
            Key("use_bias_correction_kl", \.useBiasCorrectionKl, "KL term times the importance ratio (unbiased)."),
            Key("epsilon", \.epsilon, "Clip range of the ratio below (and above, without epsilon_high)."),
            Key("epsilon_high", \.epsilonHigh, "Clip range above (DAPO's clip-higher).", default: "epsilon"),
            Key("loss_type", \.lossType, "How token losses are averaged."),
            Key("scale_rewards", \.scaleRewards, "Divide advantages by the group's, the batch's or no std."),
            Key("num_iterations", \.numIterations, "Optimizer updates a sampled batch (pi_old fixed)."),
            Key("importance_sampling_level", \.importanceSamplingLevel, "token (GRPO) or sequence (GSPO) ratios."),
            Key(
                "mask_truncated_completions", \.maskTruncatedCompletions, "Completions cut at the cap count in no loss."
            ),
            Key("dynamic_sampling", \.dynamicSampling, "DAPO: drop groups without spread, sample more."),
            Key("dynamic_sampling_metric", \.dynamicSamplingMetric, "What a kept group must vary in."),
            Key("max_resample_rounds", \.maxResampleRounds, "Extra sampling batches a step may take."),
            Key(
                "router_bias_update_speed", \.routerBiasUpdateSpeed,
                "MoE router balancing speed (0 freezes the bias)."),
            Key("router_replay", \.routerReplay, "Train each token through the experts the sampler chose."),
            Key(
                "answer_rule", \.answerRule, "The rule that decides a task solved (eval's accuracy).",
                default: "the task set's"),
            Key(
                "max_rule_error_share", \.maxRuleErrorShare,
                "Stop when a rule errs on more than this share of a step."),

            Key("seed", \.seed, "Seed of the prompt order and the samples."),
            Key("max_steps", \.maxSteps, "Sampled batches to train on."),
            Key("logging_steps", \.loggingSteps, "Progress (and --json) every this many steps; all are recorded."),
            Key("eval_steps", \.evalSteps, "Evaluate on the test split every this many steps (0: at the end only)."),
            Key("eval_limit", \.evalLimit, "Test tasks evaluated (0: all)."),
            Key("save_steps", \.saveSteps, "Checkpoint every this many steps (and at the end)."),
            Key("save_total_limit", \.saveTotalLimit, "Keep the newest this many checkpoints (0: all)."),
        ],
        refused: [
            (
                "per_device_train_batch_size",
                "a step samples prompts_per_step prompts x num_generations completions; set prompts_per_step"
            ),
            ("num_train_epochs", "GRPO runs max_steps sampled batches; there are no epochs over the prompts"),
            ("report_to", CommonRefusals.reportTo),
            ("log_completions", "every completion is recorded in the traces database (grpo traces samples)"),
            ("bf16", CommonRefusals.precision), ("fp16", CommonRefusals.precision),
            ("use_vllm", "sampling runs in this process, with the policy's own KV cache"),
            ("push_to_hub", CommonRefusals.hub),
        ])
}

/// Reasons shared by the commands' refused TRL keys.
public enum CommonRefusals {
    public static let reportTo =
        "metrics go to <run>.metrics.jsonl and the traces database; "
        + "there is no W&B/TensorBoard reporting"
    public static let precision = "training runs in float32 on the CPU; export writes bfloat16 (grpo export --dtype)"
    public static let hub = "nothing is uploaded; grpo export writes a Hugging Face folder to push yourself"
}

extension LossType: OptionChoice {}
extension ScaleRewards: OptionChoice {}
extension ImportanceSamplingLevel: OptionChoice {}
extension DynamicSamplingMetric: OptionChoice {}
