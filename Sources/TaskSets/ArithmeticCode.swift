// `arith-code`: arith's problems answered in one of two styles, for program-aided
// reasoning. A demonstration either answers from memory,
//     "73*39=" -> "<answer>2847</answer>"
// or writes a program that prints the answer,
//     "73*39=" -> "```python\nprint(73*39)\n```"
// (the `program_output` rule runs it in the sandbox). Recalling a two-digit
// product is hard for a small model; copying the two operands is easy, and the
// interpreter does the rest. So the styles differ in reliability, a policy
// SFT'd on both samples both, and the reward tells them apart: what RL can
// learn here is to use the interpreter.
// Knobs: digits (1-6, default 2), ops (default "+-*"), direct_share (percent of
// the demonstrations that answer from memory, 0-100, default 50).

import Foundation
import Support

public enum ArithmeticCode {
    public static func generate(_ o: GeneratorOptions) throws -> GeneratedSet {
        let directShare = try o.int("direct_share", 50, 0...100)
        // The same problems as arith for the same knobs and seed.
        var arith = try Arithmetic.generate(o)
        let ops = o.knobs["ops"] ?? "+-*"
        let digits = try o.int("digits", 2, 1...6)
        var rng = Xoshiro(seed: o.seed ^ 0x5A17_C0DE)
        arith.manifest = TaskManifest(
            name: "arith-code", kind: "math",
            description: "Multi-digit \(ops) with up to \(digits) digits, answered from memory or by a program "
                + "(\(directShare)% of the demonstrations from memory).",
            rules: "arith-code", stop: ["</answer>", "\n```"], maxCompletionLength: 24 + 2 * (2 * digits + 1))
        arith.train = arith.train.map { renamed($0) }
        arith.test = arith.test.map { renamed($0) }
        arith.sft = arith.sft.enumerated().map { i, d in
            let expression = String(d.prompt.dropLast())  // "73*39=" without "="
            let fromMemory = Int(rng.next() % 100) < directShare
            let answer =
                d.completion.components(separatedBy: "<answer>").last?
                .components(separatedBy: "</answer>").first ?? ""
            return Demonstration(
                id: "arith-code-sft-\(i)", prompt: d.prompt,
                completion: fromMemory
                    ? "<answer>\(answer)</answer>"
                    : "```python\nprint(\(expression))\n```")
        }
        return arith
    }

    static func renamed(_ t: TaskRecord) -> TaskRecord {
        var t = t
        t.id = t.id.replacingOccurrences(of: "arith-", with: "arith-code-")
        return t
    }
}
