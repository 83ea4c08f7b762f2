// Shaping kinds: they look at the form of a completion, not its correctness.

/// kind "length": DAPO's overlong shaping, lengths in
/// tokens, eos included, as the sampler counted them (scoring text alone counts
/// its UTF-8 bytes, the byte tokenizer's tokens):
///   |o| <= L_max - L_cache: 0;  up to L_max: ((L_max - L_cache) - |o|) / L_cache;  beyond: -1
/// With max_length 100, cache 20: 70 tokens -> 0 "within_length", 90 -> -0.5 "soft_overlong", 120 -> -1 "overlong".
/// Without max_length, L_max is the cap generation ran with (max_completion_length); where
/// that is unknown too (text scored outside training) the rule does not apply.
public struct LengthRule: RewardRule {
    public let name: String
    let maxLength: Int?
    let cache: Int

    public static let kind = RuleKind(
        name: "length",
        summary: "DAPO overlong penalty: 0 within max_length - cache, falling linearly to -1 at max_length",
        parameters: [
            "max_length": "L_max in tokens (default: the generation cap, max_completion_length)",
            "cache": "L_cache, the soft buffer in tokens (required)",
        ]
    ) { spec in
        let maxLength = try spec.int("max_length", default: -1)
        let cache = try spec.int("cache", default: -1)
        guard maxLength > 0 || !spec.has("max_length") else {
            throw spec.error("max_length", "a positive number of tokens (or leave it out: the generation cap)")
        }
        guard cache > 0 else { throw spec.error("cache", "required, a positive number of tokens") }
        guard maxLength < 0 || cache <= maxLength else { throw spec.error("cache", "must be at most max_length") }
        return LengthRule(name: spec.name, maxLength: maxLength > 0 ? maxLength : nil, cache: cache)
    }

    public func score(completion: String, task: RewardTask) -> RuleScore? {
        score(completion: completion, length: CompletionLength(), task: task)
    }

    public func score(completion: String, length: CompletionLength, task: RewardTask) -> RuleScore? {
        guard let limit = maxLength ?? length.limit else { return nil }
        let n = length.tokens ?? completion.utf8.count
        // A cap below the configured buffer shrinks the buffer to the whole cap.
        let buffer = min(cache, limit)
        let soft = limit - buffer
        if n <= soft { return RuleScore(score: 0, reason: "within_length") }
        if n <= limit {
            return RuleScore(score: Double(soft - n) / Double(buffer), reason: "soft_overlong", detail: "\(n) tokens")
        }
        return RuleScore(score: -1, reason: "overlong", detail: "\(n) tokens")
    }
}

/// kind "repetition": n-gram repetition penalty (as open-r1's): with the
/// completion's n-grams (of words, or of characters), score =
/// max_penalty * (1 - distinct / total), so 0 for no repeats.
/// n 3 on words, max_penalty -1: "a b c a b c a b c" -> 7 trigrams, 3 distinct -> -0.571 "repetitive".
public struct RepetitionRule: RewardRule {
    public let name: String
    let n: Int, onWords: Bool, maxPenalty: Double

    public static let kind = RuleKind(
        name: "repetition", summary: "max_penalty x the fraction of repeated n-grams (0 when nothing repeats)",
        parameters: [
            "n": "n-gram size (default 3)", "unit": "word (default) or char",
            "max_penalty": "score at full repetition (default -1, must be <= 0)",
        ]
    ) { spec in
        let n = try spec.int("n", default: 3)
        guard n >= 1 else { throw spec.error("n", "must be at least 1") }
        let maxPenalty = try spec.double("max_penalty", default: -1)
        guard maxPenalty <= 0 else { throw spec.error("max_penalty", "must be <= 0 (a penalty)") }
        return RepetitionRule(
            name: spec.name, n: n, onWords: try spec.choice("unit", ["word", "char"], default: "word") == "word",
            maxPenalty: maxPenalty)
    }

    public func score(completion: String, task: RewardTask) -> RuleScore? {
        let units: [Substring] =
            onWords
            ? completion.split(whereSeparator: { $0.isWhitespace })
            : completion.map { Substring(String($0)) }
        guard units.count >= n else { return RuleScore(score: 0, reason: "too_short") }
        var seen = Set<[Substring]>()
        let total = units.count - n + 1
        for i in 0..<total { seen.insert(Array(units[i..<(i + n)])) }
        let repeated = 1 - Double(seen.count) / Double(total)
        return RuleScore(score: maxPenalty * repeated, reason: repeated > 0 ? "repetitive" : "no_repetition")
    }
}

/// kind "tag_count": each expected tag exactly once; score = the fraction of
/// tags that are (open-r1's tag_count_reward gives 0.25 per tag of four).
/// "<think>x</think><answer>1</answer>" -> 1 "tags_ok"; "<think>x</think>" -> 0.5 "tags_wrong".
public struct TagCountRule: RewardRule {
    public let name: String
    let tags: [String]

    public static let kind = RuleKind(
        name: "tag_count", summary: "fraction of the expected tags that occur exactly once",
        parameters: ["tags": "list of tags (default <think>, </think>, <answer>, </answer>)"]
    ) { spec in
        let tags = try spec.strings("tags") ?? ["<think>", "</think>", "<answer>", "</answer>"]
        guard !tags.isEmpty, !tags.contains("") else {
            throw spec.error("tags", "must be a non-empty list of non-empty tags")
        }
        return TagCountRule(name: spec.name, tags: tags)
    }

    public func score(completion: String, task: RewardTask) -> RuleScore? {
        let once = tags.filter { occurrences(of: $0, in: completion) == 1 }.count
        let wrong = tags.filter { occurrences(of: $0, in: completion) != 1 }
        return RuleScore(
            score: Double(once) / Double(tags.count), reason: wrong.isEmpty ? "tags_ok" : "tags_wrong",
            detail: wrong.isEmpty ? nil : "not exactly once: " + wrong.joined(separator: " "))
    }

    /// A tag the template already wrote would have to appear once more in the completion.
    public func leadInConflict(_ leadIn: String) -> String? {
        let given = tags.filter { leadIn.contains($0) }
        guard !given.isEmpty else { return nil }
        return
            "it expects \(given.joined(separator: " ")) once in the completion, but the prompt template already "
            + "writes it before the completion"
    }

    private func occurrences(of tag: String, in text: String) -> Int {
        let t = Array(tag.utf8)
        var count = 0
        var s = text
        s.withUTF8 { buf in
            guard buf.count >= t.count else { return }
            var i = 0
            while i + t.count <= buf.count {
                if buf[i] == t[0] && zip(buf[i..<(i + t.count)], t).allSatisfy({ $0 == $1 }) {
                    count += 1
                    i += t.count
                } else {
                    i += 1
                }
            }
        }
        return count
    }
}
