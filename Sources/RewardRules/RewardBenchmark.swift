// Throughput of the rule kinds, for `grpo bench rewards`: each figure is the
// median of several timed rounds over a fixed corpus, after a warmup round.

import Foundation

public enum RewardBenchmark {
    /// Typical completions: R1-formatted ones of 100-800 bytes, and broken ones.
    public static func formatCorpus(count: Int = 1000) -> [String] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33)
        }
        let words = [
            "so", "the", "sum", "is", "carry", "one", "then", "we", "add", "digits", "7+8=15", "write", "5", "and",
            "check",
        ]
        return (0..<count).map { i in
            let thinking = (0..<(10 + next() % 120)).map { _ in words[next() % words.count] }.joined(separator: " ")
            let answer = String(next() % 100_000)
            switch i % 4 {
            case 0, 1: return "<think>\(thinking)</think>\n<answer>\(answer)</answer>"
            case 2: return "<think>\(thinking)\n<answer>\(answer)</answer>"  // unclosed think
            default: return "\(thinking) the answer is \(answer)"
            }
        }
    }

    /// Format checks per second on one thread with the R1 format pattern.
    public static func regexPerSecond(rounds: Int = 5) throws -> Double {
        let pattern = try PCRE2Pattern(#"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$"#, flags: ["dotall"])
        let corpus = formatCorpus()
        return try median(rounds) {
            var hits = 0
            for _ in 0..<20 { for c in corpus where pattern.match(c) == .matched { hits += 1 } }
            precondition(hits > 0)
            return 20 * corpus.count
        }
    }

    /// Median of `rounds` of `body` (which returns how many items it did), in items per second.
    public static func median(_ rounds: Int, _ body: () throws -> Int) throws -> Double {
        _ = try body()
        var rates: [Double] = []
        for _ in 0..<max(1, rounds) {
            let start = DispatchTime.now().uptimeNanoseconds
            let n = try body()
            rates.append(Double(n) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
        }
        return rates.sorted()[rates.count / 2]
    }
}
