// What the sampler knows about a completion's length, for the rules that measure
// it (the `length` kind). Scoring text alone (a file of completions) knows
// neither: a rule then counts UTF-8 bytes, which are the byte tokenizer's tokens.
//
//   CompletionLength(tokens: 90, limit: 100)   90 tokens sampled under a cap of 100

public struct CompletionLength: Sendable, Equatable {
    /// Tokens the policy generated, eos included (nil: unknown).
    public var tokens: Int?
    /// The cap generation ran with, max_completion_length (nil: unknown).
    public var limit: Int?

    public init(tokens: Int? = nil, limit: Int? = nil) {
        self.tokens = tokens
        self.limit = limit
    }
}
