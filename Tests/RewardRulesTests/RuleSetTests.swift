// The rule engine: rule-set files and their errors, weights, gating and
// applicability, the regex and shaping kinds on hand cases, kinds registered
// in code, and command plugins (the shipped example, and misbehaving ones).

import XCTest
import Foundation
import RewardRules
import Support

final class RuleSetTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let math = RewardTask(kind: "math", answer: "4")
    let code = RewardTask(kind: "code", tests: "assert True")

    func parse(_ yaml: String, registry: RuleRegistry = .shared) throws -> RuleSet {
        try RuleSet.parse(yaml, file: "rules.yaml", registry: registry)
    }

    func error(_ yaml: String) -> String {
        do {
            _ = try parse(yaml)
            return "no error"
        } catch { return "\(error)" }
    }

    func testRegexRule() throws {
        let set = try parse(
            """
            rules:
              - name: format
                kind: regex
                pattern: '^<think>.*?</think>\\s*<answer>.*?</answer>$'
                flags: [dotall]
            """)
        XCTAssertEqual(set.name, "rules")
        let ok = set.score(completion: "<think>2+2\nis 4</think>\n<answer>4</answer>", task: math)
        XCTAssertEqual(ok.reward, 1)
        XCTAssertEqual(ok.score(of: "format"), RuleScore(score: 1, reason: "format_ok"))
        XCTAssertEqual(set.score(completion: "<think>x</think><answer>4</answer> trailing", task: math).reward, 0)
        // Without dotall, '.' stops at newlines.
        let strict = try parse("rules:\n  - {name: f, kind: regex, pattern: '^<a>.*</a>$'}")
        XCTAssertEqual(strict.score(completion: "<a>x\ny</a>", task: math).reward, 0)
        XCTAssertEqual(strict.score(completion: "<a>é 数</a>", task: math).reward, 1, "UTF-8 subjects")
        let inverted = try parse(
            "rules:\n  - {name: f, kind: regex, pattern: 'TODO', score_on: no_match, flags: caseless}")
        XCTAssertEqual(inverted.score(completion: "all done", task: math).reward, 1)
        XCTAssertEqual(inverted.score(completion: "todo: later", task: math).reward, 0)
    }

    /// A rule that wants the completion to start with what the prompt template already wrote
    /// after the prompt (a chat template ending in "<think>"): the trainer warns about it.
    func testLeadInConflicts() throws {
        let set = try parse(
            """
            rules:
              - {name: anchored, kind: regex, pattern: '^\\s*<think>.*?</think>', flags: [dotall]}
              - {name: flagged, kind: regex, pattern: '<think>', flags: [anchored]}
              - {name: anywhere, kind: regex, pattern: '<think>.*?</think>', flags: [dotall]}
              - {name: answer_first, kind: regex, pattern: '^<answer>'}
              - {name: open, kind: regex, pattern: '^.*</answer>$'}
              - {name: inverted, kind: regex, pattern: '^<think>', score_on: no_match}
              - {name: tags, kind: tag_count}
              - {name: answer_tags, kind: tag_count, tags: ['<answer>', '</answer>']}
            """)
        func conflicts(_ leadIn: String) -> [String] {
            set.entries.filter { $0.rule.leadInConflict(leadIn) != nil }.map(\.name)
        }
        XCTAssertEqual(conflicts("<think>"), ["anchored", "flagged", "tags"])
        XCTAssertEqual(
            conflicts("\nSolve it step by step.\n<think>\n"), ["anchored", "flagged", "tags"],
            "the tag at the end of a longer lead-in")
        XCTAssertEqual(conflicts("<thi"), ["anchored", "flagged"], "a partial tag is the start of a match")
        XCTAssertEqual(conflicts(""), [])
        XCTAssertEqual(conflicts("Answer:"), [])
        let why = try XCTUnwrap(set.entries[0].rule.leadInConflict("Solve:\n<think>"))
        XCTAssertTrue(why.contains("\"<think>\""), why)
    }

    func testShapingRules() throws {
        let set = try parse(
            """
            rules:
              - {name: length, kind: length, max_length: 100, cache: 20}
              - {name: repetition, kind: repetition, n: 3, max_penalty: -1}
              - {name: tags, kind: tag_count}
            """)
        func s(_ c: String, _ rule: String) -> Double { set.score(completion: c, task: math).score(of: rule)!.score }
        XCTAssertEqual(s(String(repeating: "a", count: 70), "length"), 0)
        XCTAssertEqual(s(String(repeating: "a", count: 80), "length"), 0)
        XCTAssertEqual(s(String(repeating: "a", count: 90), "length"), -0.5, accuracy: 1e-12)
        XCTAssertEqual(s(String(repeating: "a", count: 100), "length"), -1, accuracy: 1e-12)
        XCTAssertEqual(s(String(repeating: "a", count: 101), "length"), -1)
        XCTAssertEqual(s("a b c a b c a b c", "repetition"), -(1 - 3.0 / 7), accuracy: 1e-12)
        XCTAssertEqual(s("every word here is new", "repetition"), 0)
        XCTAssertEqual(s("<think>x</think><answer>1</answer>", "tags"), 1)
        XCTAssertEqual(s("<think>x</think>", "tags"), 0.5)
        XCTAssertEqual(s("<think><think>x</think><answer>1</answer>", "tags"), 0.75)
    }

    /// The length rule counts the sampler's tokens (eos included) when it has them, else UTF-8
    /// bytes, and without max_length takes L_max from the generation cap.
    func testLengthRuleCountsTokensAndDefaultsToTheCap() throws {
        let set = try parse(
            """
            rules:
              - {name: capped, kind: length, cache: 20}
              - {name: fixed, kind: length, max_length: 100, cache: 20}
            """)
        func s(_ rule: String, _ bytes: Int, _ length: CompletionLength) -> Double? {
            let text = String(repeating: "a", count: bytes)
            return set.score(completion: text, task: math, length: length).score(of: rule)?.score
        }
        // 89 bytes and an eos: 90 tokens, (80 - 90) / 20.
        XCTAssertEqual(s("capped", 89, CompletionLength(tokens: 90, limit: 100)), -0.5)
        XCTAssertEqual(s("capped", 89, CompletionLength(limit: 100)), -0.45, "bytes when tokens are unknown")
        XCTAssertEqual(
            s("capped", 30, CompletionLength(tokens: 31, limit: 40)), -0.55, "L_max = the cap: (20 - 31) / 20")
        XCTAssertNil(s("capped", 30, CompletionLength()), "no cap known: does not apply")
        XCTAssertEqual(s("fixed", 89, CompletionLength(tokens: 90, limit: 40)), -0.5, "max_length wins over the cap")
        // A cap below the buffer: the buffer is the whole cap, (0 - 5) / 10.
        XCTAssertEqual(s("capped", 5, CompletionLength(tokens: 5, limit: 10)), -0.5)
        let zero = error("rules:\n  - {name: f, kind: length, max_length: 0, cache: 1}")
        XCTAssertTrue(zero.contains("field \"max_length\""), zero)
    }

    func testWeightsGatingAndApplicability() throws {
        let set = try parse(
            """
            rules:
              - {name: format, kind: regex, pattern: '^<answer>', weight: 0.25}
              - {name: exact, kind: regex, pattern: '<answer>4</answer>', weight: 2, requires: format}
              - {name: tags, kind: tag_count, tags: ['<answer>'], weight: 0.5, applies_to: math}
            """)
        let good = set.score(completion: "<answer>4</answer>", task: math)
        XCTAssertEqual(good.reward!, 0.25 + 2 + 0.5, accuracy: 1e-12)
        // The gated rule scores 1 but does not count without the format.
        let gated = set.score(completion: "so <answer>4</answer>", task: math)
        XCTAssertEqual(gated.score(of: "exact")?.score, 1)
        XCTAssertEqual(gated.reward!, 0.5, accuracy: 1e-12)
        XCTAssertEqual(gated.rules.first { $0.name == "exact" }?.counted, false)
        // applies_to: the tag rule is left out for a code task.
        let other = set.score(completion: "<answer>4</answer>", task: code)
        XCTAssertNil(other.score(of: "tags"))
        XCTAssertEqual(other.reward!, 2.25, accuracy: 1e-12)
        // No rule applies: no reward at all (not zero).
        let none = try parse("rules:\n  - {name: t, kind: tag_count, applies_to: [math]}")
        XCTAssertNil(none.score(completion: "x", task: code).reward)
        // A batch is scored in parallel, in order.
        let batch = (0..<200).map { i in (completion: i % 2 == 0 ? "<answer>4</answer>" : "nope", task: math) }
        let scored = set.score(batch)
        for (i, s) in scored.enumerated() { XCTAssertEqual(s.reward!, i % 2 == 0 ? 2.75 : 0, accuracy: 1e-12) }
    }

    func testErrorsNameFileLineRuleAndField() {
        // The file, line, rule and field are ours; the reason is PCRE2's own words, which vary by version.
        let regex = error("rules:\n  - {name: f, kind: regex, pattern: 'a(b'}")
        XCTAssertTrue(regex.hasPrefix("rules.yaml:2: rule \"f\": field \"pattern\": invalid regex: "), regex)
        XCTAssertTrue(
            regex.range(of: #"invalid regex: \S.* at offset \d+$"#, options: .regularExpression) != nil,
            regex)
        XCTAssertEqual(
            error("rules:\n  - {name: f, kind: regexp, pattern: 'a'}").prefix(60),
            "rules.yaml:2: rule \"f\": field \"kind\": unknown kind \"regexp\" (".prefix(60))
        XCTAssertEqual(
            error("rules:\n  - name: f\n    kind: regex\n    pattern: a\n    patern: b"),
            "rules.yaml:5: rule \"f\": field \"patern\": unknown parameter for kind \"regex\"")
        XCTAssertEqual(
            error("rules:\n  - {name: f, kind: regex, pattern: a, weight: heavy}"),
            "rules.yaml:2: rule \"f\": field \"weight\": expected a number")
        XCTAssertTrue(
            error("rules:\n  - {name: f, kind: regex, pattern: a, requires: g}").contains(
                "field \"requires\": no rule named \"g\""))
        XCTAssertTrue(error("rules:\n  - {name: f, kind: length, max_length: 10}").contains("field \"cache\""))
        XCTAssertTrue(
            error("rules:\n  - {name: f, kind: regex, pattern: a}\n  - {name: f, kind: tag_count}").contains(
                "duplicate rule name"))
        XCTAssertTrue(error("rules: []").contains("field \"rules\""))
        XCTAssertTrue(error("name: x\nrulez: []").contains("field \"rulez\": unknown key"))
        XCTAssertTrue(error("rules:\n  - {kind: regex}").contains("field \"name\": required"))
        XCTAssertTrue(error("rules: [\n").contains("not valid YAML"))
        XCTAssertThrowsError(try RuleSet.load("no/such/rules.yaml")) {
            guard case .missingFile(let path)? = $0 as? RewardError else { return XCTFail("\($0)") }
            XCTAssertTrue(path.hasSuffix("no/such/rules.yaml"), path)
        }
    }

    func testKindRegisteredInCode() throws {
        let registry = RuleRegistry(builtIn: true)
        registry.register(
            RuleKind(name: "min_length", summary: "at least `min` characters", parameters: ["min": "characters"]) {
                spec in
                let min = try spec.int("min", default: 10)
                return ClosureRule(name: spec.name) { completion, _ in
                    RuleScore(
                        score: completion.count >= min ? 1 : 0,
                        reason: completion.count >= min ? "long_enough" : "too_short")
                }
            })
        let set = try parse("rules:\n  - {name: long, kind: min_length, min: 5}", registry: registry)
        XCTAssertEqual(set.score(completion: "abcdef", task: math).reward, 1)
        XCTAssertEqual(set.score(completion: "abc", task: math).score(of: "long")?.reason, "too_short")
        XCTAssertThrowsError(try parse("rules:\n  - {name: long, kind: min_length}"), "not in the shared registry") {
            guard case let .badRuleFile(file, line, rule, field, message)? = $0 as? RewardError else {
                return XCTFail("\($0)")
            }
            XCTAssertEqual([file, rule, field], ["rules.yaml", "long", "kind"])
            XCTAssertEqual(line, 2)
            XCTAssertTrue(message.hasPrefix("unknown kind \"min_length\""), message)
        }
    }

    // MARK: command plugins

    var pluginDirs: [URL] = []
    override func tearDown() { for d in pluginDirs { try? FileManager.default.removeItem(at: d) } }

    func plugin(_ script: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "plugin-\(getpid())-\(UUID().uuidString.prefix(6))")
        pluginDirs.append(dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("plugin.py")
        try ("#!/usr/bin/env python3\nimport json, sys, time, os\n" + script).write(
            to: file, atomically: false, encoding: .utf8)
        chmod(file.path, 0o755)
        return file.path
    }

    func testShippedExamplePlugin() throws {
        let set = try RuleSet.load("Rewards/plugins/integer-answer.yaml", relativeTo: Self.root.path)
        XCTAssertEqual(
            set.score(completion: "<think>x</think><answer>12</answer>", task: math).score(of: "integer"),
            RuleScore(score: 1, reason: "integer"))
        XCTAssertEqual(
            set.score(completion: "<answer>1.5</answer>", task: math).score(of: "integer")?.reason, "not_integer")
        XCTAssertNil(set.score(completion: "x", task: code).score(of: "integer"), "the plugin says: not applicable")
        // Many requests from several threads go through the one running plugin, each with its own id.
        let batch = (0..<100).map { (completion: "<answer>\($0)</answer>", task: math) }
        XCTAssertTrue(set.score(batch).allSatisfy { $0.score(of: "integer")?.score == 1 })
        // Its own Python test passes.
        let p = Process()
        p.executableURL = try XCTUnwrap(ExecutableSearch.find("python3"), "python3 is not on PATH")
        p.arguments = [Self.root.appendingPathComponent("Rewards/plugins/test_integer_answer.py").path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
    }

    func testCrashingPluginIsRestarted() throws {
        // Answers one request, then exits; the next request finds it dead.
        let path = try plugin(
            """
            line = sys.stdin.readline()
            r = json.loads(line)
            print(json.dumps({"id": r["id"], "score": 1, "reason": "ok"}), flush=True)
            sys.stderr.write("bye\\n"); sys.exit(3)
            """)
        let rule = CommandRule(name: "p", executable: URL(fileURLWithPath: path), timeout: 5, maxRestarts: 2)
        XCTAssertEqual(rule.score(completion: "a", task: math)?.reason, "ok")
        let crashed = rule.score(completion: "b", task: math)!
        XCTAssertEqual(crashed.score, 0)
        XCTAssertEqual(crashed.reason, "plugin_error")
        XCTAssertTrue(crashed.detail!.contains("exited with status 3"), crashed.detail!)
        XCTAssertEqual(rule.score(completion: "c", task: math)?.reason, "ok", "restarted")
        _ = rule.score(completion: "d", task: math)
        XCTAssertEqual(rule.score(completion: "e", task: math)?.reason, "ok", "restarted again")
        _ = rule.score(completion: "f", task: math)
        let gaveUp = rule.score(completion: "g", task: math)!
        XCTAssertTrue(gaveUp.detail!.contains("not restarted"), gaveUp.detail!)
    }

    func testHangingPluginTimesOut() throws {
        let path = try plugin(
            """
            for line in sys.stdin:
                r = json.loads(line)
                if "hang" in r["completion"]: time.sleep(60)
                print(json.dumps({"id": r["id"], "score": 0.5, "reason": "ok"}), flush=True)
            """)
        // 5 s: room for the restarted plugin's interpreter to start on a busy machine (a PATH python3 may
        // be a shell shim), yet far below the plugin's 60 s sleep.
        let rule = CommandRule(name: "p", executable: URL(fileURLWithPath: path), timeout: 5)
        let start = Date()
        let hung = rule.score(completion: "hang", task: math)!
        XCTAssertEqual(hung.reason, "plugin_timeout")
        // Cut short of the plugin's 60 s sleep; a bound far from 5 s, so a busy machine cannot fail it.
        XCTAssertLessThan(Date().timeIntervalSince(start), 30)
        XCTAssertEqual(rule.score(completion: "fine", task: math), RuleScore(score: 0.5, reason: "ok"))
    }

    /// A reply for another request or without a numeric score is an error at once; a line that
    /// holds no JSON object with a "score" (bad JSON, a score left out) is the plugin's own output,
    /// so the request times out, and the error shows that output.
    func testMisbehavingRepliesAreErrorsNotZeros() throws {
        let path = try plugin(
            """
            for line in sys.stdin:
                r = json.loads(line)
                c = r["completion"]
                if c == "badjson": print("{not json", flush=True)
                elif c == "wrongid": print(json.dumps({"id": "999", "score": 1}), flush=True)
                elif c == "noscore": print(json.dumps({"id": r["id"], "reason": "?"}), flush=True)
                elif c == "textscore": print(json.dumps({"id": r["id"], "score": "high"}), flush=True)
                else: print(json.dumps({"id": r["id"], "score": 1, "reason": "ok"}), flush=True)
            """)
        let rule = CommandRule(name: "p", executable: URL(fileURLWithPath: path), timeout: 1, maxRestarts: 10)
        let wrongID = rule.score(completion: "wrongid", task: math)!
        XCTAssertTrue(wrongID.detail!.contains("id 999"), wrongID.detail!)
        XCTAssertEqual(wrongID.reason, "plugin_error")
        XCTAssertTrue(rule.score(completion: "textscore", task: math)!.detail!.contains("no numeric \"score\""))
        let badJSON = rule.score(completion: "badjson", task: math)!
        XCTAssertEqual(badJSON.reason, "plugin_timeout")
        XCTAssertTrue(badJSON.detail!.contains("its stdout (not replies): {not json"), badJSON.detail!)
        XCTAssertEqual(rule.score(completion: "noscore", task: math)?.reason, "plugin_timeout")
        for bad in ["badjson", "wrongid", "noscore", "textscore"] {
            let s = rule.score(completion: bad, task: math)!
            XCTAssertEqual(s.score, 0)
            XCTAssertTrue(s.isError, "\(bad) is no verdict")
        }
        let good = rule.score(completion: "good", task: math)!
        XCTAssertEqual(good.reason, "ok")
        XCTAssertFalse(good.isError)
    }

    func testMissingPluginIsALoadError() {
        XCTAssertTrue(
            error("rules:\n  - {name: p, kind: command, command: ./nope.sh}").contains(
                "field \"command\": ./nope.sh: no such executable"))
    }
}

final class RuleSetHashTests: XCTestCase {
    /// The rule set's hash is what sha256sum prints for its file.
    func testHashIsWhatSha256sumPrints() throws {
        let file = RuleSetTests.root.appendingPathComponent("Rewards/plugins/integer-answer.yaml")
        let set = try RuleSet.load(file.path)
        guard let sha256sum = ExecutableSearch.find("sha256sum") else {
            throw XCTSkip("no sha256sum on PATH to compare the rule set's hash with")
        }
        let p = Process()
        p.executableURL = sha256sum
        p.arguments = [file.path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(set.contentHash, String(printed.prefix(64)))
    }
}
