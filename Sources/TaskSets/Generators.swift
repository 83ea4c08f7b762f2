// Task-set generators: deterministic for a seed, with difficulty knobs, and
// test problems never in train (problems are drawn by key, test first).

import Foundation
import Support
import RewardRules

public struct GeneratedSet {
    public var manifest: TaskManifest
    public var train: [TaskRecord]
    public var test: [TaskRecord]
    public var sft: [Demonstration]
}

public struct GeneratorOptions: Sendable {
    public var train = 1000, test = 200, sft = 1000
    public var seed: UInt64 = 0
    /// Knobs by name (e.g. "digits": "3", "ops": "+-*"); each generator documents its own.
    public var knobs: [String: String] = [:]
    public init(train: Int = 1000, test: Int = 200, sft: Int = 1000, seed: UInt64 = 0, knobs: [String: String] = [:]) {
        self.train = train
        self.test = test
        self.sft = sft
        self.seed = seed
        self.knobs = knobs
    }

    func int(_ k: String, _ d: Int, _ range: ClosedRange<Int>) throws -> Int {
        guard let s = knobs[k] else { return d }
        guard let v = Int(s), range.contains(v) else {
            throw TaskSetError.invalid(
                "--\(k) \(s): must be a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }
}

public enum Generators {
    public static let names = ["arith", "arith-code", "countdown", "linear-code"]

    public static func generate(_ name: String, options: GeneratorOptions) throws -> GeneratedSet {
        switch name {
        case "arith": return try Arithmetic.generate(options)
        case "arith-code": return try ArithmeticCode.generate(options)
        case "countdown": return try Countdown.generate(options)
        case "linear-code": return try LinearCode.generate(options)
        default: throw TaskSetError.invalid("unknown generator \"\(name)\" (\(names.joined(separator: ", ")))")
        }
    }

    /// Draws `test`, then `train` + `sft` distinct problems by key; sft demonstrations
    /// come from train-side problems only (never from test).
    static func draw<P>(
        _ options: GeneratorOptions, capacity: Int, _ make: (inout Xoshiro) -> (key: String, problem: P)
    )
        throws -> (test: [P], train: [P], sft: [P])
    {
        let wanted = options.test + options.train + options.sft
        guard wanted <= capacity / 2 else {
            throw TaskSetError.invalid(
                "\(wanted) problems asked for, but only about \(capacity) distinct ones exist with these knobs: raise "
                    + "the difficulty or ask for fewer"
            )
        }
        var rng = Xoshiro(seed: options.seed)
        var seen = Set<String>()
        var out: [P] = []
        var tries = 0
        while out.count < wanted {
            tries += 1
            if tries > wanted * 50 {
                throw TaskSetError.invalid("could not draw \(wanted) distinct problems (try other knobs)")
            }
            let (key, p) = make(&rng)
            if seen.insert(key).inserted { out.append(p) }
        }
        let t = options.test
        let tr = options.train
        return (Array(out[0..<t]), Array(out[t..<(t + tr)]), Array(out[(t + tr)...]))
    }

    static func uniform(_ rng: inout Xoshiro, _ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(rng.next() % UInt64(range.count))
    }
}

/// `arith`: multi-digit +, -, * (knobs: digits 1-6, default 2; ops, default "+-*"; direct_share,
/// the percent of demonstrations that answer without working, default 0).
/// Prompt "47*36=", completion "<think>\n...working, a step a line...\n</think><answer>1692</answer>", or
/// with no working "<think></think><answer>1692</answer>": two styles whose reliability differs, told apart by
/// the token after "<think>" (so the prefix "<think>\n" or "<think></think>" forces one in `grpo eval`).
public enum Arithmetic {
    public static func generate(_ o: GeneratorOptions) throws -> GeneratedSet {
        let digits = try o.int("digits", 2, 1...6)
        let directShare = try o.int("direct_share", 0, 0...100)
        var styleRNG = Xoshiro(seed: o.seed ^ 0xD1EC7)
        let ops = Array(o.knobs["ops"] ?? "+-*")
        guard !ops.isEmpty, ops.allSatisfy({ "+-*".contains($0) }) else {
            throw TaskSetError.invalid("--ops: a combination of + - *")
        }
        let maxValue = Int(pow(10.0, Double(digits))) - 1
        let sets = try Generators.draw(o, capacity: ops.count * (maxValue + 1) * (maxValue + 1)) {
            rng -> (key: String, problem: (Int, Character, Int)) in
            let op = ops[Generators.uniform(&rng, 0...(ops.count - 1))]
            var a = Generators.uniform(&rng, 0...maxValue)
            var b = Generators.uniform(&rng, 0...maxValue)
            if op == "-" && b > a { swap(&a, &b) }  // results stay non-negative
            return ("\(a)\(op)\(b)", (a, op, b))
        }
        func task(_ p: (Int, Character, Int), _ split: String, _ i: Int) -> TaskRecord {
            TaskRecord(id: "arith-\(split)-\(i)", prompt: "\(p.0)\(p.1)\(p.2)=", answer: String(result(p)))
        }
        return GeneratedSet(
            manifest: TaskManifest(
                name: "arith", kind: "math",
                description: "Multi-digit \(String(ops)) with up to \(digits) digits, worked digit by digit"
                    + (directShare > 0 ? " (\(directShare)% of the demonstrations answer at once)." : "."),
                rules: "arith", stop: ["</answer>"], maxCompletionLength: 160),
            train: sets.train.enumerated().map { task($1, "train", $0) },
            test: sets.test.enumerated().map { task($1, "test", $0) },
            sft: sets.sft.enumerated().map { i, p in
                // Drawn for every demonstration, so a share of 0 leaves the set as it always was.
                let direct = Int(styleRNG.next() % 100) < directShare
                let thinking = direct ? "" : "\n" + working(p) + "\n"
                return Demonstration(
                    id: "arith-sft-\(i)", prompt: "\(p.0)\(p.1)\(p.2)=",
                    completion: "<think>\(thinking)</think><answer>\(result(p))</answer>")
            })
    }

    static func result(_ p: (Int, Character, Int)) -> Int {
        switch p.1 {
        case "+": return p.0 + p.2
        case "-": return p.0 - p.2
        default: return p.0 * p.2
        }
    }

    /// The written method, one step a line. Addition and subtraction go digit by digit from the right, with the
    /// carry or borrow, and each line ends with the digits of the result found so far ("so 32"), so the answer is
    /// a copy of the last line rather than the lines' last digits read backwards; multiplication goes by partial
    /// products, the last line their sum.
    public static func working(_ p: (Int, Character, Int)) -> String {
        let (a, op, b) = p
        let da = String(a).reversed().map { Int(String($0))! }
        let db = String(b).reversed().map { Int(String($0))! }
        var steps: [String] = []
        var soFar = ""
        switch op {
        case "+":
            var carry = 0
            let columns = max(da.count, db.count)
            for i in 0..<columns {
                let x = i < da.count ? da[i] : 0
                let y = i < db.count ? db[i] : 0
                let s = x + y + carry
                soFar = (i == columns - 1 ? String(s) : String(s % 10)) + soFar
                steps.append("\(x)+\(y)+\(carry)=\(s) so \(soFar)")
                carry = s / 10
            }
        case "-":
            var borrow = 0
            for i in 0..<da.count {
                let x = da[i]
                let y = i < db.count ? db[i] : 0
                let d = x - y - borrow
                let lend = d < 0 ? 1 : 0
                soFar = String(d + 10 * lend) + soFar
                steps.append("\(lend == 1 ? "1" : "")\(x)-\(y)-\(borrow)=\(d + 10 * lend) so \(soFar)")
                borrow = lend
            }
        default:
            var partials: [Int] = []
            for (i, d) in db.enumerated() {
                let place = Int(pow(10.0, Double(i)))
                let partial = a * d * place
                steps.append("\(a)*\(d * place)=\(partial)")
                partials.append(partial)
            }
            if partials.count > 1 { steps.append(partials.map(String.init).joined(separator: "+") + "=\(a * b)") }
        }
        return steps.joined(separator: "\n")
    }
}
