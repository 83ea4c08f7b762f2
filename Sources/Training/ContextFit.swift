// Whether every task fits the model's context: its prompt as the policy sees
// it (the task set's template, a bos token) plus the completion cap. Checked
// before the first step of a run (and before an evaluation), so a long task
// is named with what to do about it, instead of failing the run at whatever
// step first draws it, naming only its place in the batch.

import Foundation
import Policy
import TaskSets

/// A task whose prompt and completion cap do not fit the context.
public struct ContextOverflow: Sendable, Equatable, CustomStringConvertible {
    public var taskID: String
    public var split: String
    public var promptTokens: Int
    public var completionCap: Int
    public var context: Int

    public init(taskID: String, split: String, promptTokens: Int, completionCap: Int, context: Int) {
        self.taskID = taskID
        self.split = split
        self.promptTokens = promptTokens
        self.completionCap = completionCap
        self.context = context
    }

    public var description: String {
        "task \"\(taskID)\" (\(split)): its prompt is \(promptTokens) tokens, and with a completion cap of "
            + "\(completionCap) it needs \(promptTokens + completionCap), past the model's context of \(context) "
            + "(max_position_embeddings)"
    }
}

public struct ContextFitError: Error, CustomStringConvertible, Equatable {
    public var taskSet: String
    public var overflows: [ContextOverflow]

    public init(taskSet: String, overflows: [ContextOverflow]) {
        self.taskSet = taskSet
        self.overflows = overflows
    }

    public var description: String {
        let first = overflows[0]
        let room = first.context - first.promptTokens
        let fix =
            room >= 1
            ? "lower max_completion_length to at most \(room), shorten the prompt, or leave the task out"
            : "shorten the prompt (or the prompt_template) or leave the task out"
        let more = overflows.count > 1 ? " (and \(overflows.count - 1) more task(s))" : ""
        return "\(taskSet): \(first)\(more): \(fix); `grpo tasks validate \(taskSet) --model DIR` lists every one"
    }
}

public enum ContextFit {
    /// Each task of `split` with its prompt's length in tokens, as the policy sees it.
    public static func promptLengths(
        _ tasks: TaskSet, split: String, model: ModelConfig, suffix: String = ""
    ) throws
        -> [(id: String, tokens: Int)]
    {
        let tokenizer = ByteTokenizer(config: model)
        return try tasks.split(split).map { task in
            (task.id, tokenizer.encode(tasks.manifest.prompt(for: task) + suffix, addBOS: true).count)
        }
    }

    /// Throws ContextFitError, naming the first task that does not fit (and holding all of
    /// them), for any of the splits (each with its completion cap); returns the longest prompt
    /// of all, in tokens.
    @discardableResult
    public static func check(
        _ tasks: TaskSet, splits: [(name: String, completionCap: Int)], model: ModelConfig,
        suffix: String = ""
    ) throws -> Int {
        var all: [ContextOverflow] = []
        var longest = 0
        for (name, cap) in splits {
            let lengths = try promptLengths(tasks, split: name, model: model, suffix: suffix)
            longest = max(longest, lengths.map(\.tokens).max() ?? 0)
            all += lengths.compactMap { id, prompt in
                guard prompt + cap > model.maxPositionEmbeddings else { return nil }
                return ContextOverflow(
                    taskID: id, split: name, promptTokens: prompt, completionCap: cap,
                    context: model.maxPositionEmbeddings)
            }
        }
        if !all.isEmpty { throw ContextFitError(taskSet: tasks.manifest.name, overflows: all) }
        return longest
    }
}
