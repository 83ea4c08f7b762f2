// The one pass threshold: a score counts as full marks (a pass, a solved task, a satisfied
// `requires` gate) from here up. It sits a hair below 1 so that partial credit summed from
// parts (0.1 + 0.2 + 0.7) still passes. The rules (RuleScore.isFullMarks: accuracy, pass
// rates in the step metrics and `grpo eval`) and the traces' SQL views read it from here.

public enum PassThreshold {
    public static let fullMarks: Double = 1 - 1e-9
}
