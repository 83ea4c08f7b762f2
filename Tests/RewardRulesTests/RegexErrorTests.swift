// A pattern that backtracks catastrophically makes PCRE2 give up (its match
// limit). That is neither a match nor a miss: the regex rule scores 0
// `regex_error` whichever way `score_on` points, so no text can earn a reward
// by making the matcher fail.

import XCTest
import RewardRules

final class RegexErrorTests: XCTestCase {
    /// "(a+)+$" tries every split of the a's before the "!": 2^40 ways, far past the match limit.
    let pattern = "(a+)+$|FORBIDDEN"
    let forbidden = String(repeating: "a", count: 40) + "! FORBIDDEN"
    let task = RewardTask(kind: "math", answer: "4")

    func testTheMatcherReportsAFailureNotAMiss() throws {
        let regex = try PCRE2Pattern(pattern)
        guard case .failed(let message) = regex.match(forbidden) else {
            return XCTFail("expected PCRE2 to give up, got \(regex.match(forbidden))")
        }
        XCTAssertFalse(message.isEmpty)
        // The same pattern on ordinary text still answers both ways.
        XCTAssertEqual(regex.match("it says FORBIDDEN"), .matched)
        XCTAssertEqual(regex.match("aaa"), .matched)
        XCTAssertEqual(regex.match("nothing here!"), .missed)
    }

    func testARegexErrorScoresZeroWhicheverWayScoreOnPoints() throws {
        for scoreOn in ["match", "no_match"] {
            let set = try RuleSet.parse(
                """
                rules:
                  - {name: clean, kind: regex, pattern: '\(pattern)', score_on: \(scoreOn)}
                """, file: "rules.yaml")
            let s = try XCTUnwrap(set.score(completion: forbidden, task: task).score(of: "clean"))
            XCTAssertEqual(s.score, 0, scoreOn)
            XCTAssertEqual(s.reason, "regex_error", scoreOn)
            XCTAssertEqual(set.score(completion: forbidden, task: task).reward, 0, scoreOn)
            // Ordinary completions are scored as before.
            let ordinary = set.score(completion: "a plain answer.", task: task).score(of: "clean")
            XCTAssertEqual(ordinary?.score, scoreOn == "match" ? 0 : 1, scoreOn)
        }
    }
}
