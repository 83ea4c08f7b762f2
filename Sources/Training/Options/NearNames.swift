// "did you mean": the known names nearest a misspelt one, for flags and file keys alike.

enum NearNames {
    /// Up to three of `known`, nearest first, within an edit distance that grows with the name
    /// (a third of its length, at least 2), or sharing its first word.
    static func suggest(_ name: String, among known: [String]) -> [String] {
        let limit = max(2, name.count / 3)
        let firstWord = name.split(separator: "_").first.map(String.init) ?? name
        let scored = known.map { ($0, distance(name, $0)) }
            .filter { $0.1 <= limit || ($0.0.hasPrefix(firstWord + "_") && firstWord.count >= 4) }
        return scored.sorted { ($0.1, $0.0) < ($1.1, $1.0) }.prefix(3).map(\.0)
    }

    /// Levenshtein distance over characters.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(1, b.count) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
