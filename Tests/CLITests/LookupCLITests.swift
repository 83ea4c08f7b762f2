// grpo from any folder: rule and task sets found in ./Rewards and ./Tasks, then
// $GRPO_HOME, then the install's share folder (found from the binary's real path), each
// listing saying where a set came from; a name found nowhere lists the folders searched.
// `make install PREFIX=<tmp>` lays out the binary, its resources and the shipped sets.
// And `grpo rewards score` failing when every score of a rule is an error.
// Everything here lives in the test's own temporary folder.

import XCTest
import Foundation

extension CLITests {
    /// This process's environment without GRPO_HOME, plus `extra`.
    func lookupEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["GRPO_HOME"] = nil
        for (k, v) in extra { env[k] = v }
        return env
    }

    /// A copy of the shipped task set `arith` as `folder/Tasks/<name>`, named so, its description `marker`.
    func copyTaskSet(to folder: URL, name: String, marker: String) throws {
        let target = folder.appendingPathComponent("Tasks").appendingPathComponent(name)
        try FileManager.default.createDirectory(
            at: target.deletingLastPathComponent(),
            withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Self.root.appendingPathComponent("Tasks/arith"), to: target)
        let manifest = target.appendingPathComponent("task.yaml")
        var text = try String(contentsOf: manifest, encoding: .utf8)
        text = text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { line in
                line.hasPrefix("description:")
                    ? "description: \(marker)"
                    : line.hasPrefix("name:") ? "name: \(name)" : String(line)
            }.joined(separator: "\n")
        try text.write(to: manifest, atomically: true, encoding: .utf8)
    }

    func testOutsideTheRepositoryNothingFoundIsSaidAndNamesListTheFolders() throws {
        let empty = tmp.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let env = lookupEnvironment()
        let tasks = try grpo(["tasks", "list"], in: empty, environment: env, timeout: 60).out
        XCTAssertEqual(tasks, "no task sets found (looked in \(empty.path)/Tasks (current folder))\n")
        let rules = try grpo(["rewards", "list"], in: empty, environment: env, timeout: 60).out
        XCTAssertTrue(rules.contains("no rule sets found (looked in \(empty.path)/Rewards (current folder))"), rules)
        let home = tmp.appendingPathComponent("home")
        let missing = try grpo(
            ["rewards", "list", "--rules", "math"], expect: 1, in: empty,
            environment: lookupEnvironment(["GRPO_HOME": home.path]), timeout: 60
        ).err
        XCTAssertTrue(
            missing.contains(
                "no rule set \"math\" (looked for math.yaml in \(empty.path)/Rewards (current "
                    + "folder), \(home.path)/Rewards (GRPO_HOME))"), missing)
        let noSet = try grpo(["tasks", "show", "arith"], expect: 1, in: empty, environment: env, timeout: 60).err
        XCTAssertTrue(noSet.contains("no task set \"arith\""), noSet)
        XCTAssertTrue(noSet.contains("\(empty.path)/Tasks (current folder)"), noSet)
    }

    /// ./Tasks before $GRPO_HOME/Tasks before the install's; listings name each folder, and a
    /// set hidden by an earlier one of the same name is said to be.
    func testLookupOrderCurrentFolderThenHomeThenInstall() throws {
        // A fake install: `make install` into the test's prefix (see testMakeInstallLaysOutASelfContainedPrefix
        // for the layout); the binary is already built, so make is told not to build.
        let prefix = tmp.appendingPathComponent("prefix")
        try install(into: prefix)
        let installed = prefix.appendingPathComponent("bin/grpo")
        let home = tmp.appendingPathComponent("home")
        try copyTaskSet(to: home, name: "arith", marker: "from GRPO_HOME")
        try copyTaskSet(to: home, name: "mine", marker: "only at home")
        try FileManager.default.createDirectory(
            at: home.appendingPathComponent("Rewards"),
            withIntermediateDirectories: true)
        try "name: mine\nrules:\n  - {name: any, kind: regex, pattern: '.'}\n"
            .write(to: home.appendingPathComponent("Rewards/mine.yaml"), atomically: true, encoding: .utf8)
        let work = tmp.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let env = lookupEnvironment(["GRPO_HOME": home.path])
        func show(_ name: String) throws -> String {
            try grpo(
                ["tasks", "show", name, "--limit", "1"], in: work, environment: env, timeout: 60,
                executable: installed
            ).out
        }
        // Installed sets are found from any folder; GRPO_HOME's arith hides the installed one.
        let listed = try grpo(["tasks", "list"], in: work, environment: env, timeout: 120, executable: installed).out
        let share = prefix.appendingPathComponent("share/swift-grpo")
        XCTAssertTrue(listed.contains("task sets in \(home.path)/Tasks (GRPO_HOME):\n  arith  math"), listed)
        XCTAssertTrue(listed.contains("from GRPO_HOME"), listed)
        XCTAssertTrue(listed.contains("  mine  math"), listed)
        XCTAssertTrue(
            listed.contains("task sets in \(share.path)/Tasks (installed):\n  arith: hidden by the one above"), listed)
        XCTAssertTrue(listed.contains("  countdown  math"), listed)
        XCTAssertFalse(listed.contains("(current folder):"), "no ./Tasks here: \(listed)")
        // A set of the current folder comes first.
        try copyTaskSet(to: work, name: "arith", marker: "from the current folder")
        let first = try grpo(["tasks", "list"], in: work, environment: env, timeout: 120, executable: installed).out
        XCTAssertTrue(first.hasPrefix("task sets in \(work.path)/Tasks (current folder):\n  arith  math"), first)
        XCTAssertTrue(
            first.contains("task sets in \(home.path)/Tasks (GRPO_HOME):\n  arith: hidden by the one above"), first)
        XCTAssertFalse(try show("countdown").isEmpty, "installed countdown")
        // Rule sets the same way: GRPO_HOME's own, and the installed ones by name.
        let rules = try grpo(["rewards", "list"], in: work, environment: env, timeout: 60, executable: installed).out
        XCTAssertTrue(rules.contains("rule sets in \(home.path)/Rewards (GRPO_HOME):\n  mine: any"), rules)
        XCTAssertTrue(rules.contains("rule sets in \(share.path)/Rewards (installed):\n  arith: "), rules)
        let math = try grpo(
            ["rewards", "list", "--rules", "math"], in: work, environment: env, timeout: 60,
            executable: installed
        ).out
        XCTAssertTrue(math.contains("(\(share.path)/Rewards/math.yaml)"), math)
        // A symlink to the binary finds the install by the binary's real path.
        let link = tmp.appendingPathComponent("links/grpo")
        try FileManager.default.createDirectory(at: link.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: installed)
        let viaLink = try grpo(
            ["rewards", "list", "--rules", "countdown"], in: work, environment: lookupEnvironment(),
            timeout: 60, executable: link
        ).out
        XCTAssertTrue(viaLink.contains("(\(share.path)/Rewards/countdown.yaml)"), viaLink)
    }

    /// `make install PREFIX=...` into a folder of the test's: the binary runs from there with
    /// its resources (a named model shape), and the shipped sets are all there.
    func testMakeInstallLaysOutASelfContainedPrefix() throws {
        let prefix = tmp.appendingPathComponent("usr")
        try install(into: prefix)
        let fm = FileManager.default
        XCTAssertTrue(fm.isExecutableFile(atPath: prefix.appendingPathComponent("bin/grpo").path))
        // SwiftPM looks for a module's resources beside the executable.
        XCTAssertTrue(
            fm.fileExists(
                atPath: prefix.appendingPathComponent(
                    "bin/swift-grpo_Policy.resources/Shapes/toy.json"
                ).path))
        for set in [
            "Rewards/math.yaml", "Rewards/plugins/integer_answer.py", "Tasks/arith/task.yaml",
            "Tasks/countdown/train.jsonl",
        ] {
            XCTAssertTrue(fm.fileExists(atPath: prefix.appendingPathComponent("share/swift-grpo/" + set).path), set)
        }
        XCTAssertTrue(
            fm.isExecutableFile(
                atPath: prefix.appendingPathComponent(
                    "share/swift-grpo/Rewards/plugins/integer_answer.py"
                ).path), "plugins stay executable")
        let model = tmp.appendingPathComponent("toy").path
        let out = try grpo(
            ["init-model", "--shape", "toy", "--out", model], in: tmp, environment: lookupEnvironment(),
            timeout: 120, executable: prefix.appendingPathComponent("bin/grpo")
        ).out
        XCTAssertTrue(out.contains("parameters"), out)
        // Installing again over it works (the sets are replaced, not nested).
        try install(into: prefix)
        XCTAssertFalse(fm.fileExists(atPath: prefix.appendingPathComponent("share/swift-grpo/Tasks/Tasks").path))
    }

    /// `make install PREFIX=prefix` of the binary these tests run, without building (SWIFT=true):
    /// it is built already, and SwiftPM's lock on .build is held by the running `swift test`.
    func install(into prefix: URL) throws {
        try grpo(
            ["-C", Self.root.path, "install", "PREFIX=\(prefix.path)", "BIN=\(try binary().path)", "SWIFT=true"],
            in: tmp, timeout: 300, executable: URL(fileURLWithPath: "/usr/bin/make"))
    }

    /// A plugin failing on every request: `rewards score` writes every line, then exits 1 naming
    /// the rule and its first error.
    func testRewardsScoreFailsWhenEveryScoreOfARuleIsAnError() throws {
        let plugin = tmp.appendingPathComponent("broken.py")
        try "#!/usr/bin/python3\nimport sys\nfor line in sys.stdin:\n    raise KeyError('no such field')\n"
            .write(to: plugin, atomically: true, encoding: .utf8)
        chmod(plugin.path, 0o755)
        let rules = tmp.appendingPathComponent("broken.yaml")
        try """
        rules:
          - {name: format, kind: regex, pattern: '<answer>'}
          - {name: judge, kind: command, command: ./broken.py}
        """.write(to: rules, atomically: true, encoding: .utf8)
        let input = tmp.appendingPathComponent("in.jsonl")
        try (0..<3).map {
            "{\"id\": \($0), \"completion\": \"<answer>\($0)</answer>\", \"task\": {\"kind\": \"math\"}}"
        }
        .joined(separator: "\n").write(to: input, atomically: true, encoding: .utf8)
        let r = try grpo(["rewards", "score", "--rules", rules.path, "--input", input.path], expect: 1, timeout: 120)
        XCTAssertEqual(r.out.split(separator: "\n").count, 3, "every line is written: \(r.out)")
        XCTAssertTrue(r.out.contains("\"judge\":\"plugin_error\""), r.out)
        XCTAssertTrue(r.err.contains("rule \"judge\" failed to score every one of its 3 samples"), r.err)
        XCTAssertTrue(r.err.contains("KeyError: 'no such field'"), r.err)
    }
}
