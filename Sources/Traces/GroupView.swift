// A step's groups and a group's completions as the trace viewer shows them:
// every rule's score, reason and detail beside each completion, and its tokens
// with the sampler's log-prob of each.
//
// Token text: the trace keeps token ids, not the tokenizer. Where the ids are
// the byte tokenizer's (0...255 are the UTF-8 bytes, and they spell the
// completion exactly), each token's text is its byte, a multi-byte character
// shown on its first byte's token. Otherwise (a BPE tokenizer) `tokenTexts` is
// nil and the viewer shows the log-probs without the text under them.

import Foundation
import GRDB

/// One rule's verdict on a sample.
public struct ScoreView: Sendable, Encodable {
    public var rule: String
    public var kind: String
    public var weight: Double
    /// Nil: the rule did not apply.
    public var score: Double?
    public var reason: String
    public var detail: String?
}

/// One completion whole: its numbers, every rule's verdict and its tokens.
public struct SampleView: Sendable, Encodable {
    public var id: Int64
    public var run: Int64
    public var step: Int
    public var group: Int64
    public var index: Int
    public var taskID: String
    public var reward: Double?
    public var advantage: Double?
    public var numTokens: Int
    public var finishReason: String
    public var truncated: Bool
    public var logprobSum: Double?
    public var completion: String
    public var scores: [ScoreView]
    public var tokenIDs: [Int32]
    /// The sampler's log-prob of each token (nil where it was not finite).
    public var tokenLogprobs: [Double?]
    /// Each token's text where the ids are bytes (see above), else nil.
    public var tokenTexts: [String]?
    /// The group's prompt, for a sample shown alone (nil inside a group view, which has it once).
    public var prompt: String?

    // A snake_case encoder would write tokenIDs as "token_i_ds".
    enum CodingKeys: String, CodingKey {
        case id, run, step, group, index, taskID = "task_id", reward, advantage, numTokens, finishReason, truncated
        case logprobSum, completion, scores, tokenIDs = "token_ids", tokenLogprobs, tokenTexts, prompt
    }
}

/// A group: its prompt and its completions side by side.
public struct GroupView: Sendable, Encodable {
    public var id: Int64
    public var run: Int64
    public var step: Int
    public var index: Int
    public var taskID: String
    public var prompt: String
    public var rewardMean: Double?
    public var rewardStd: Double?
    public var rules: [RuleInfo]
    public var samples: [SampleView]
}

extension TraceReader {
    /// The groups of a step, the widest spread of rewards first (a flat group teaches nothing):
    /// reward mean, std, lowest and highest, samples, truncated ones, and the prompt's start.
    public func stepGroups(run: Int64, step: Int, preview: Int = 80) throws -> Table {
        try table(
            """
            SELECT g.id AS "group", g.idx, g.task_id, g.reward_mean, g.reward_std, min(s.reward) AS min_reward,
                   max(s.reward) AS max_reward, count(s.id) AS samples, sum(s.truncated) AS truncated,
                   replace(replace(substr(g.prompt, 1, ?), char(10), ' '), char(13), ' ') AS prompt
            FROM groups g LEFT JOIN samples s ON s.id BETWEEN g.first_sample AND g.last_sample
            WHERE g.run_id = ? AND g.step = ?
            GROUP BY g.id
            ORDER BY coalesce(g.reward_std, 0) DESC, coalesce(max(s.reward) - min(s.reward), 0) DESC, g.idx
            """, [preview, run, step])
    }

    public func groupView(_ id: Int64) throws -> GroupView {
        guard
            let row = try db.read({ db in
                try Row.fetchOne(
                    db,
                    sql: """
                        SELECT id, run_id, step, idx, task_id, prompt, reward_mean, reward_std, first_sample,
                               last_sample
                        FROM groups WHERE id = ?
                        """, arguments: [id])
            })
        else { throw TraceError.unknownGroup(id) }
        let run: Int64 = row[1]
        let first: Int64? = row[8]
        let last: Int64? = row[9]
        let samples = try first.flatMap { first in try last.map { try sampleViews(from: first, to: $0) } } ?? []
        return GroupView(
            id: id, run: run, step: row[2], index: row[3], taskID: row[4], prompt: row[5],
            rewardMean: finite(row[6]), rewardStd: finite(row[7]), rules: try ruleInfos(run: run),
            samples: samples.map {
                var s = $0
                s.prompt = nil
                return s
            })
    }

    public func sampleView(_ id: Int64) throws -> SampleView {
        guard let sample = try sampleViews(from: id, to: id).first else { throw TraceError.unknownSample(id) }
        return sample
    }

    /// The samples with ids `first...last` (a group's are consecutive), in id order.
    private func sampleViews(from first: Int64, to last: Int64) throws -> [SampleView] {
        try db.read { db in
            let scores = try Row.fetchAll(
                db,
                sql: """
                    SELECT rs.sample_id, r.name, r.kind, r.weight, rs.score, rs.reason, rs.detail
                    FROM rule_scores rs JOIN rules r ON r.id = rs.rule_id
                    WHERE rs.sample_id BETWEEN ? AND ? ORDER BY rs.sample_id, r.id
                    """, arguments: [first, last])
            var byID: [Int64: [ScoreView]] = [:]
            for s in scores {
                byID[s[0], default: []].append(
                    ScoreView(rule: s[1], kind: s[2], weight: s[3], score: s[4], reason: s[5], detail: s[6]))
            }
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT s.id, s.run_id, s.step, s.group_id, s.idx, g.task_id, s.reward, s.advantage, s.num_tokens,
                           s.finish_reason, s.truncated, s.logprob_sum, s.completion, s.token_ids, s.token_logprobs,
                           g.prompt
                    FROM samples s JOIN groups g ON g.id = s.group_id WHERE s.id BETWEEN ? AND ? ORDER BY s.id
                    """, arguments: [first, last]
            )
            .map { row in
                let id: Int64 = row[0]
                let completion: String = row[12]
                let ids = (row[13] as Data?).flatMap(Blob.decodeInt32) ?? []
                let logprobs = (row[14] as Data?).flatMap(Blob.decodeFloat) ?? []
                return SampleView(
                    id: id, run: row[1], step: row[2], group: row[3], index: row[4], taskID: row[5],
                    reward: finite(row[6]), advantage: finite(row[7]), numTokens: row[8], finishReason: row[9],
                    truncated: (row[10] as Int64) != 0, logprobSum: finite(row[11]), completion: completion,
                    scores: byID[id] ?? [], tokenIDs: ids, tokenLogprobs: logprobs.map { finite(Double($0)) },
                    tokenTexts: byteTokenTexts(ids, spelling: completion), prompt: row[15])
            }
        }
    }
}

/// Each token's text when `ids` are the byte tokenizer's and spell `completion` (special ids,
/// 256 and above, as ""); nil otherwise. A character of several bytes is given to its first
/// byte's token, the others get "".
func byteTokenTexts(_ ids: [Int32], spelling completion: String) -> [String]? {
    guard !ids.isEmpty else { return nil }
    let bytes = ids.compactMap { $0 >= 0 && $0 < 256 ? UInt8($0) : nil }
    guard bytes.elementsEqual(completion.utf8) else { return nil }
    var texts = Array(repeating: "", count: ids.count)
    var i = 0
    while i < ids.count {
        guard ids[i] >= 0 && ids[i] < 256 else {
            i += 1
            continue
        }
        // A lead byte says how many continuation bytes follow (UTF-8); the completion is valid text.
        let lead = UInt8(ids[i])
        let length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        let end = min(i + length, ids.count)
        let run = ids[i..<end].compactMap { $0 >= 0 && $0 < 256 ? UInt8($0) : nil }
        texts[i] = String(decoding: run, as: UTF8.self)
        i = end
    }
    return texts
}
