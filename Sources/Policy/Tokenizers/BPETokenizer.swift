// Byte-level BPE (GPT-2, Llama-3, Qwen, DeepSeek style) as the `tokenizers`
// library runs it from a tokenizer.json (TokenizerJSON reads the file):
//   1. added tokens are cut out of the text first (leftmost, then longest;
//      lstrip/rstrip take the whitespace beside them), those not normalized on
//      the raw text, the rest after the normalizer (NFC or none);
//   2. the pre-tokenizer splits the rest into pieces (regex splits run with
//      PCRE2; ByteLevel's own split is GPT-2's pattern);
//   3. each piece's UTF-8 bytes start as one symbol each, and the adjacent
//      pair with the lowest merge rank is merged (leftmost on ties) until no
//      pair has a merge.
// Decoding concatenates each token's bytes (ByteLevelAlphabet.decode), special
// tokens dropped. The bos the policy puts before a prompt is added here
// (`addBOS`), not by the file's post-processor.

import Foundation

public struct BPETokenizer: Tokenizer {
    public let pad: Int32, bos: Int32, eos: Int32
    /// The files it was read from (tokenizer.json and, when present, tokenizer_config.json and
    /// special_tokens_map.json), written back unchanged into checkpoints and exports.
    public let files: [String: Data]
    let vocabulary: Vocabulary

    /// What tokenizer.json describes, in the form encoding reads.
    final class Vocabulary: Sendable {
        struct AddedToken: Sendable {
            let id: Int32
            let content: [UInt8]
            let special: Bool, normalized: Bool, lstrip: Bool, rstrip: Bool
        }
        enum SplitBehavior: Sendable { case isolated, removed, mergedWithPrevious, mergedWithNext }
        enum PreTokenizer: Sendable { case split(SplitPattern, SplitBehavior) }

        /// The bytes of every id (empty where the file has no token).
        let tokenBytes: [[UInt8]]
        let isSpecial: [Bool]
        /// The id of each single byte.
        let byteIds: [Int32]
        /// (left id << 32 | right id) -> (rank, merged id).
        let merges: [UInt64: (rank: Int32, id: Int32)]
        /// Whole pieces found in the vocabulary skip merging (model.ignore_merges).
        let ignoreMerges: Bool
        let idsByBytes: [[UInt8]: Int32]
        let addedTokens: [AddedToken]
        /// Special tokens are not cut out of text (tokenizer_config.json split_special_tokens).
        let splitSpecialTokens: Bool
        let normalizesNFC: Bool
        let preTokenizers: [PreTokenizer]

        init(
            tokenBytes: [[UInt8]], isSpecial: [Bool], byteIds: [Int32], merges: [UInt64: (rank: Int32, id: Int32)],
            ignoreMerges: Bool, idsByBytes: [[UInt8]: Int32], addedTokens: [AddedToken], splitSpecialTokens: Bool,
            normalizesNFC: Bool, preTokenizers: [PreTokenizer]
        ) {
            self.tokenBytes = tokenBytes
            self.isSpecial = isSpecial
            self.byteIds = byteIds
            self.merges = merges
            self.ignoreMerges = ignoreMerges
            self.idsByBytes = idsByBytes
            self.addedTokens = addedTokens
            self.splitSpecialTokens = splitSpecialTokens
            self.normalizesNFC = normalizesNFC
            self.preTokenizers = preTokenizers
        }
    }

    init(pad: Int32, bos: Int32, eos: Int32, files: [String: Data], vocabulary: Vocabulary) {
        self.pad = pad
        self.bos = bos
        self.eos = eos
        self.files = files
        self.vocabulary = vocabulary
    }

    /// Ids the file defines: one past the largest.
    public var vocabSize: Int { vocabulary.tokenBytes.count }

    /// Whether every text encodes and decodes as the byte tokenizer's would: byte b is id b, no
    /// merges, no normalizer, and the only added tokens are pad, bos and eos, special and never
    /// cut out of text (what `grpo export` writes).
    public var encodesAsByteTokenizer: Bool {
        let v = vocabulary
        return v.merges.isEmpty && !v.normalizesNFC && v.byteIds == (0..<256).map(Int32.init) && v.splitSpecialTokens
            && v.tokenBytes.count <= 256 + v.addedTokens.count
            && Set(v.addedTokens.map(\.id)) == [pad, bos, eos] && v.addedTokens.allSatisfy(\.special)
    }

    public func encode(_ text: String, addBOS: Bool = false) -> [Int32] {
        let v = vocabulary
        var ids: [Int32] = addBOS ? [bos] : []
        for part in cutAddedTokens(Array(text.utf8), normalized: false) {
            guard case .text(let raw) = part else {
                if case .token(let id) = part { ids.append(id) }
                continue
            }
            let normal =
                v.normalizesNFC
                ? Array(String(decoding: raw, as: UTF8.self).precomposedStringWithCanonicalMapping.utf8) : raw
            for inner in cutAddedTokens(normal, normalized: true) {
                switch inner {
                case .token(let id): ids.append(id)
                case .text(let bytes): for piece in preTokenize(bytes) { merge(piece, into: &ids) }
                }
            }
        }
        return ids
    }

    public func bytes(of id: Int32) -> [UInt8] {
        let v = vocabulary
        guard id >= 0, Int(id) < v.tokenBytes.count, !v.isSpecial[Int(id)] else { return [] }
        return v.tokenBytes[Int(id)]
    }

    private enum Part { case text([UInt8]), token(Int32) }

    /// Splits `text` around the added tokens whose `normalized` flag is `normalized`.
    private func cutAddedTokens(_ text: [UInt8], normalized: Bool) -> [Part] {
        let tokens = vocabulary.addedTokens.filter {
            $0.normalized == normalized && !($0.special && vocabulary.splitSpecialTokens) && !$0.content.isEmpty
        }
        guard !tokens.isEmpty else { return text.isEmpty ? [] : [.text(text)] }
        // Leftmost match first, the longest of those starting there, never overlapping.
        var found: [(range: Range<Int>, token: Vocabulary.AddedToken)] = []
        var i = 0
        while i < text.count {
            var best: Vocabulary.AddedToken?
            for t in tokens
            where t.content.count > (best?.content.count ?? 0) && i + t.content.count <= text.count
                && text[i..<(i + t.content.count)].elementsEqual(t.content)
            {
                best = t
            }
            if let best {
                found.append((i..<(i + best.content.count), best))
                i += best.content.count
            } else {
                i += 1
            }
        }
        var parts: [Part] = []
        var done = 0
        for (range, token) in found {
            var start = range.lowerBound
            var stop = range.upperBound
            // Whitespace already taken by the previous token's rstrip stays with it.
            if token.lstrip { start = max(done, start - Self.whitespaceSuffixLength(text[done..<start])) }
            if token.rstrip { stop += Self.whitespacePrefixLength(text[stop...]) }
            guard start >= done else { continue }
            if done < start { parts.append(.text(Array(text[done..<start]))) }
            parts.append(.token(token.id))
            done = stop
        }
        if done < text.count { parts.append(.text(Array(text[done...]))) }
        return parts
    }

    private static func whitespaceSuffixLength(_ bytes: ArraySlice<UInt8>) -> Int {
        var n = 0
        for c in String(decoding: bytes, as: UTF8.self).unicodeScalars.reversed() {
            guard c.properties.isWhitespace else { break }
            n += String(c).utf8.count
        }
        return n
    }

    private static func whitespacePrefixLength(_ bytes: ArraySlice<UInt8>) -> Int {
        var n = 0
        for c in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            guard c.properties.isWhitespace else { break }
            n += String(c).utf8.count
        }
        return n
    }

    /// The pieces BPE runs on: each pre-tokenizer in turn splits every piece.
    private func preTokenize(_ text: [UInt8]) -> [ArraySlice<UInt8>] {
        var pieces: [ArraySlice<UInt8>] = text.isEmpty ? [] : [text[...]]
        for case let .split(pattern, behavior) in vocabulary.preTokenizers {
            var next: [ArraySlice<UInt8>] = []
            for piece in pieces {
                let base = piece.startIndex
                let found = piece.withUnsafeBufferPointer { pattern.matches(in: $0) }
                    .map { ($0.lowerBound + base)..<($0.upperBound + base) }
                var done = base
                var carried: Int?  // carried: start of a match that joins the next gap
                func emit(_ r: Range<Int>) { if !r.isEmpty { next.append(piece[r]) } }
                for m in found {
                    switch behavior {
                    case .isolated:
                        emit(done..<m.lowerBound)
                        emit(m)
                    case .removed: emit(done..<m.lowerBound)
                    case .mergedWithPrevious: emit(done..<m.upperBound)
                    case .mergedWithNext:
                        emit((carried ?? done)..<m.lowerBound)
                        carried = m.lowerBound
                    }
                    done = m.upperBound
                }
                emit((carried ?? done)..<piece.endIndex)
            }
            pieces = next
        }
        return pieces
    }

    /// BPE on one piece: merge the lowest-ranked adjacent pair, leftmost on ties, until none has a merge.
    private func merge(_ piece: ArraySlice<UInt8>, into ids: inout [Int32]) {
        let v = vocabulary
        if v.ignoreMerges, let id = v.idsByBytes[Array(piece)] {
            ids.append(id)
            return
        }
        var symbols = piece.map { v.byteIds[Int($0)] }
        while symbols.count > 1 {
            var best = Int32.max
            var at = -1
            var merged: Int32 = 0
            for i in 0..<(symbols.count - 1) {
                let pair = UInt64(UInt32(bitPattern: symbols[i])) << 32 | UInt64(UInt32(bitPattern: symbols[i + 1]))
                if let m = v.merges[pair], m.rank < best {
                    best = m.rank
                    at = i
                    merged = m.id
                }
            }
            guard at >= 0 else { break }
            symbols[at] = merged
            symbols.remove(at: at + 1)
        }
        ids += symbols
    }
}
