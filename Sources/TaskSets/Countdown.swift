// `countdown`: a few numbers and a target; the answer is an expression that uses
// each number at most once and equals the target (knobs: numbers 3-6, default 4;
// max 1-100, default 25, the largest number). Targets are made by combining a
// random subset with + - * / (exact, positive intermediates); demonstrations
// come from a solver.

import Support

public enum Countdown {
    public static func generate(_ o: GeneratorOptions) throws -> GeneratedSet {
        let count = try o.int("numbers", 4, 3...6)
        let maxNumber = try o.int("max", 25, 2...100)
        let sets = try Generators.draw(o, capacity: Int(pow(Double(maxNumber), Double(count))) / 2) {
            rng -> (key: String, problem: ([Int], Int)) in
            while true {
                let numbers = (0..<count).map { _ in Generators.uniform(&rng, 1...maxNumber) }
                if let target = randomTarget(numbers, &rng), target > 1, target < 1000, solve(numbers, target) != nil {
                    return ("\(numbers.sorted())=\(target)", (numbers, target))
                }
            }
        }
        func prompt(_ p: ([Int], Int)) -> String {
            "Using the numbers \(p.0.map(String.init).joined(separator: ", ")), make \(p.1). Use + - * / and "
                + "parentheses; each number at most once."
        }
        func task(_ p: ([Int], Int), _ split: String, _ i: Int) -> TaskRecord {
            TaskRecord(
                id: "countdown-\(split)-\(i)", prompt: prompt(p), answer: String(p.1),
                meta: ["numbers": .array(p.0.map { .number(Double($0)) }), "target": .number(Double(p.1))])
        }
        return GeneratedSet(
            manifest: TaskManifest(
                name: "countdown", kind: "math",
                description: "Reach a target from \(count) numbers up to \(maxNumber), each used at most once.",
                rules: "countdown", stop: ["</answer>"], maxCompletionLength: 200),
            train: sets.train.enumerated().map { task($1, "train", $0) },
            test: sets.test.enumerated().map { task($1, "test", $0) },
            sft: sets.sft.enumerated().map { i, p in
                let (steps, expression) = solve(p.0, p.1)!
                return Demonstration(
                    id: "countdown-sft-\(i)", prompt: prompt(p),
                    completion: "<think>\(steps.joined(separator: " "))</think><answer>\(expression)</answer>")
            })
    }

    static func randomTarget(_ numbers: [Int], _ rng: inout Xoshiro) -> Int? {
        var pool = numbers.shuffled(using: &rng)
        let uses = Generators.uniform(&rng, 2...pool.count)
        pool = Array(pool.prefix(uses))
        var value = pool[0]
        for n in pool.dropFirst() {
            switch Generators.uniform(&rng, 0...3) {
            case 0: value += n
            case 1: if value - n > 0 { value -= n } else { value += n }
            case 2: value *= n
            default: if value % n == 0 { value /= n } else { value += n }
            }
        }
        return value
    }

    /// A solution: the steps ("25+7=32") and one expression, by depth-first search
    /// over pairs (exact integers only, which every generated target has).
    public static func solve(_ numbers: [Int], _ target: Int) -> (steps: [String], expression: String)? {
        func search(_ items: [(value: Int, expr: String)], _ steps: [String]) -> ([String], String)? {
            if let hit = items.first(where: { $0.value == target }) { return (steps, hit.expr) }
            guard items.count > 1 else { return nil }
            for i in 0..<items.count {
                for j in 0..<items.count where i != j {
                    let a = items[i]
                    let b = items[j]
                    var rest = items
                    rest.remove(at: max(i, j))
                    rest.remove(at: min(i, j))
                    var options: [(Int, String, String)] = []
                    if i < j { options.append((a.value + b.value, "\(a.expr)+\(b.expr)", "+")) }
                    if i < j { options.append((a.value * b.value, "(\(a.expr))*(\(b.expr))", "*")) }
                    if a.value > b.value { options.append((a.value - b.value, "\(a.expr)-(\(b.expr))", "-")) }
                    if b.value != 0, a.value % b.value == 0, b.value != 1 {
                        options.append((a.value / b.value, "(\(a.expr))/(\(b.expr))", "/"))
                    }
                    for (v, e, op) in options where v > 0 && v < 100_000 {
                        if let found = search(rest + [(v, e)], steps + ["\(a.value)\(op)\(b.value)=\(v)"]) {
                            return found
                        }
                    }
                }
            }
            return nil
        }
        return search(numbers.map { ($0, String($0)) }, []).map { ($0.0, $0.1) }
    }
}

import Foundation
