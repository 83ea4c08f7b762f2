// kind "regex": a PCRE2 pattern, scored on match (or on no match).
//   pattern: '^<think>.*?</think>\s*<answer>.*?</answer>$'   flags: [dotall]
//   "<think>2+2</think><answer>4</answer>" -> 1 "format_ok";  "4" -> 0 "format_mismatch"

public struct RegexRule: RewardRule {
    public let name: String
    let regex: PCRE2Pattern
    let scoreOnMatch: Bool
    let matchReason: String, missReason: String

    public static let kind = RuleKind(
        name: "regex", summary: "1 when a PCRE2 pattern matches the completion (or, with score_on: no_match, when it does not)",
        parameters: ["pattern": "the PCRE2 pattern (required)",
                     "flags": "list of dotall, multiline, caseless, extended, ungreedy, anchored",
                     "score_on": "match (default) or no_match",
                     "match_reason": "reason when the pattern matches (default format_ok)",
                     "miss_reason": "reason when it does not (default format_mismatch)"]) { spec in
        let pattern = try spec.requiredString("pattern")
        let flags = try spec.strings("flags") ?? []
        let regex: PCRE2Pattern
        do { regex = try PCRE2Pattern(pattern, flags: flags) } catch let e as PCRE2Pattern.CompileError {
            throw spec.error(e.offset == 0 && e.message.hasPrefix("unknown flag") ? "flags" : "pattern",
                             "invalid regex: \(e.message)\(e.message.hasPrefix("unknown flag") ? "" : " at offset \(e.offset)")")
        }
        return RegexRule(name: spec.name, regex: regex,
                         scoreOnMatch: try spec.choice("score_on", ["match", "no_match"], default: "match") == "match",
                         matchReason: try spec.string("match_reason", default: "format_ok"),
                         missReason: try spec.string("miss_reason", default: "format_mismatch"))
    }

    public func score(completion: String, task: RewardTask) -> RuleScore? {
        let matched = regex.matches(completion)
        return RuleScore(score: matched == scoreOnMatch ? 1 : 0, reason: matched ? matchReason : missReason)
    }
}
