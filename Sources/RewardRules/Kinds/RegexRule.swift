// kind "regex": a PCRE2 pattern, scored on match (or on no match).
//   pattern: '^<think>.*?</think>\s*<answer>.*?</answer>$'   flags: [dotall]
//   "<think>2+2</think><answer>4</answer>" -> 1 "format_ok";  "4" -> 0 "format_mismatch"
// When PCRE2 gives up (its match limit, on a pattern that backtracks catastrophically),
// the score is 0 "regex_error" whichever way score_on points: an error is not a miss.

import Foundation

public struct RegexRule: RewardRule {
    public let name: String
    let regex: PCRE2Pattern
    let scoreOnMatch: Bool
    let matchReason: String, missReason: String

    public static let kind = RuleKind(
        name: "regex",
        summary: "1 when a PCRE2 pattern matches the completion (or, with score_on: no_match, when it does not)",
        parameters: [
            "pattern": "the PCRE2 pattern (required)",
            "flags": "list of dotall, multiline, caseless, extended, ungreedy, anchored",
            "score_on": "match (default) or no_match",
            "match_reason": "reason when the pattern matches (default format_ok)",
            "miss_reason": "reason when it does not (default format_mismatch)",
        ]
    ) { spec in
        let pattern = try spec.requiredString("pattern")
        let flags = try spec.strings("flags") ?? []
        let regex: PCRE2Pattern
        do { regex = try PCRE2Pattern(pattern, flags: flags) } catch let e as PCRE2Pattern.CompileError {
            throw spec.error(
                e.offset == 0 && e.message.hasPrefix("unknown flag") ? "flags" : "pattern",
                "invalid regex: \(e.message)\(e.message.hasPrefix("unknown flag") ? "" : " at offset \(e.offset)")")
        }
        return RegexRule(
            name: spec.name, regex: regex,
            scoreOnMatch: try spec.choice("score_on", ["match", "no_match"], default: "match") == "match",
            matchReason: try spec.string("match_reason", default: "format_ok"),
            missReason: try spec.string("miss_reason", default: "format_mismatch"))
    }

    /// The pattern wants the completion to begin with (the end of) the lead-in: its matches
    /// can start with that text, but not with the ordinary text a completion begins with.
    public func leadInConflict(_ leadIn: String) -> String? {
        let lead = Array(leadIn.trimmingCharacters(in: .whitespacesAndNewlines))
        guard scoreOnMatch, !lead.isEmpty, regex.isAnchored else { return nil }
        let ordinary = ["a", "T", "7", "(", "-", "\\", "'"]
        guard !ordinary.contains(where: { regex.canStartMatch(with: $0) }) else { return nil }
        // The lead-in itself, or its tail from a word or tag boundary ("Solve:\n<think>" -> "<think>").
        let starts = lead.indices.filter { $0 == 0 || lead[$0] == "<" || lead[$0 - 1].isWhitespace }
        guard let start = starts.first(where: { regex.canStartMatch(with: String(lead[$0...])) }) else { return nil }
        return
            "its pattern expects the completion to start with \"\(String(lead[start...]))\", which the prompt "
            + "template already writes before the completion"
    }

    public func score(completion: String, task: RewardTask) -> RuleScore? {
        switch regex.match(completion) {
        case .matched: return RuleScore(score: scoreOnMatch ? 1 : 0, reason: matchReason)
        case .missed: return RuleScore(score: scoreOnMatch ? 0 : 1, reason: missReason)
        case .failed(let message): return RuleScore(score: 0, reason: "regex_error", detail: message)
        }
    }
}
