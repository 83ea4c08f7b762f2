// `linear-code`: infer a small Python function from input/output examples,
// checked by hidden tests at other inputs (knob families: a comma list of
// linear, quadratic, modulo, piecewise; default linear). E.g. f(1)=5, f(2)=8,
// f(3)=11 -> `def f(x): return 3*x + 2`. Small enough for a tiny model.

import Support

public enum LinearCode {
    struct Function {
        let key: String
        let body: String
        let eval: (Int) -> Int
        var family: String {
            ["l": "linear", "q": "quadratic", "m": "modulo", "p": "piecewise"][String(key.prefix(1))]!
        }
    }

    public static func generate(_ o: GeneratorOptions) throws -> GeneratedSet {
        let families = (o.knobs["families"] ?? "linear").split(separator: ",").map {
            String($0).trimmingCharacters(in: .whitespaces)
        }
        let known = ["linear", "quadratic", "modulo", "piecewise"]
        guard !families.isEmpty, families.allSatisfy(known.contains) else {
            throw TaskSetError.invalid("--families: a comma list of \(known.joined(separator: ", "))")
        }
        let sets = try Generators.draw(o, capacity: families.count * 29 * 101) {
            rng -> (key: String, problem: Function) in
            let f = make(families[Generators.uniform(&rng, 0...(families.count - 1))], &rng)
            return (f.key, f)
        }
        func prompt(_ f: Function) -> String {
            "Write a Python function f(x) such that "
                + [1, 2, 3].map { "f(\($0)) = \(f.eval($0))" }.joined(separator: ", ") + "."
        }
        func task(_ f: Function, _ split: String, _ i: Int) -> TaskRecord {
            let tests = [0, -4, 7, 10, 25].map { "assert f(\($0)) == \(f.eval($0))" }.joined(separator: "\n")
            return TaskRecord(
                id: "linear-code-\(split)-\(i)", prompt: prompt(f), tests: tests, entryPoint: "f",
                solution: "def f(x):\n    return \(f.body)\n", meta: ["family": .string(f.family)])
        }
        return GeneratedSet(
            manifest: TaskManifest(
                name: "linear-code", kind: "code",
                description: "Infer f(x) (\(families.joined(separator: ", "))) from three examples.",
                rules: "code", stop: ["\n```\n"], maxCompletionLength: 96),
            train: sets.train.enumerated().map { task($1, "train", $0) },
            test: sets.test.enumerated().map { task($1, "test", $0) },
            sft: sets.sft.enumerated().map { i, f in
                Demonstration(
                    id: "linear-code-sft-\(i)", prompt: prompt(f),
                    completion: "```python\ndef f(x):\n    return \(f.body)\n```\n")
            })
    }

    static func make(_ family: String, _ rng: inout Xoshiro) -> Function {
        let a = Generators.uniform(&rng, 2...30)
        let b = Generators.uniform(&rng, -50...50)
        func plus(_ b: Int) -> String { b == 0 ? "" : b > 0 ? " + \(b)" : " - \(-b)" }
        switch family {
        case "quadratic":
            let c = b % 2 == 0 ? a : -a
            return Function(key: "q:\(c)", body: "x * x\(plus(c))", eval: { $0 * $0 + c })
        case "modulo":
            let m = Generators.uniform(&rng, 2...9)
            return Function(key: "m:\(a):\(m)", body: "(x % \(m)) * \(a)", eval: { (($0 % m) + m) % m * a })
        case "piecewise":
            return Function(
                key: "p:\(a):\(b)", body: "\(a) * x if x > 1 else x\(plus(b))", eval: { $0 > 1 ? a * $0 : $0 + b })
        default: return Function(key: "l:\(a):\(b)", body: "\(a) * x\(plus(b))", eval: { a * $0 + b })
        }
    }
}
