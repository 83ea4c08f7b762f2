// Byte-level BPE against the `tokenizers` library: three small tokenizers it
// trained (GPT-2, Llama-3 and DeepSeek-V3 pre-tokenizers; NFC, ignore_merges,
// added tokens with lstrip/rstrip) and the ids and decodings it gave for a
// corpus of unicode, emoji, whitespace runs, digits and special tokens
// (Fixtures/huggingface/make_fixtures.py). Plus the refusals, by key, of what
// the implementation does not follow, and the exported byte tokenizer.

import XCTest
import Foundation
import Policy

final class BPETokenizerTests: XCTestCase {
    static let bpe = ModelGoldenTests.fixtures.appendingPathComponent("huggingface/bpe")

    struct Cases: Decodable {
        struct Expected: Decodable {
            let ids: [[Int32]]
            let decoded: [String]
        }
        let texts: [String]
        let tokenizers: [String: Expected]
    }

    func testEncodingAndDecodingMatchTokenizersLibrary() throws {
        let data = try Data(contentsOf: Self.bpe.appendingPathComponent("cases.json"))
        let cases = try JSONDecoder().decode(Cases.self, from: data)
        XCTAssertEqual(Set(cases.tokenizers.keys), ["gpt2", "llama3", "deepseek"])
        for (name, expected) in cases.tokenizers {
            let tok = try TokenizerFiles.standalone(Self.bpe.appendingPathComponent("\(name).json"))
            var roundTrips = 0
            for (i, text) in cases.texts.enumerated() {
                let ids = tok.encode(text)
                XCTAssertEqual(ids, expected.ids[i], "\(name): \(text.debugDescription)")
                XCTAssertEqual(tok.decode(ids), expected.decoded[i], "\(name): \(text.debugDescription)")
                // Exact wherever the library's own round trip is (special tokens drop out, lstrip eats a space).
                if expected.decoded[i] == text {
                    XCTAssertEqual(tok.decode(ids), text)
                    roundTrips += 1
                }
            }
            XCTAssertGreaterThan(roundTrips, cases.texts.count - 3, "\(name): most texts round-trip")
        }
    }

    func testSpecialTokensAreCutOutOfTextAndDroppedInDecoding() throws {
        let tok = try TokenizerFiles.standalone(Self.bpe.appendingPathComponent("gpt2.json"))
        let ids = tok.encode("a<|endoftext|>b")
        let special = tok.encode("<|endoftext|>")
        XCTAssertEqual(special.count, 1)
        XCTAssertEqual(ids, tok.encode("a") + special + tok.encode("b"))
        XCTAssertEqual(tok.decode(ids), "ab")
        XCTAssertEqual(tok.bytes(of: special[0]), [])
    }

    func testUnsupportedSettingsAreRefusedByKey() throws {
        let data = try Data(contentsOf: Self.bpe.appendingPathComponent("gpt2.json"))
        let base = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        func refusal(_ edit: (inout [String: Any]) -> Void) -> String {
            var spec = base
            edit(&spec)
            let data = try! JSONSerialization.data(withJSONObject: spec)
            do {
                _ = try TokenizerFiles.bpe(files: ["tokenizer.json": data], source: "tok.json", config: ModelConfig())
                return "no error"
            } catch { return "\(error)" }
        }
        func model(_ key: String, _ value: Any) -> (inout [String: Any]) -> Void {
            { spec in
                var m = spec["model"] as! [String: Any]
                m[key] = value
                spec["model"] = m
            }
        }
        XCTAssertTrue(refusal(model("type", "WordPiece")).contains("key \"model.type\""))
        XCTAssertTrue(refusal(model("byte_fallback", true)).contains("key \"model.byte_fallback\""))
        XCTAssertTrue(refusal(model("dropout", 0.1)).contains("key \"model.dropout\""))
        XCTAssertTrue(
            refusal(model("continuing_subword_prefix", "##"))
                .contains("key \"model.continuing_subword_prefix\""))
        XCTAssertTrue(refusal { $0["normalizer"] = ["type": "Lowercase"] }.contains("key \"normalizer.type\""))
        XCTAssertTrue(refusal { $0["pre_tokenizer"] = ["type": "Metaspace"] }.contains("key \"pre_tokenizer.type\""))
        XCTAssertTrue(refusal { $0["pre_tokenizer"] = NSNull() }.contains("key \"pre_tokenizer\""))
        XCTAssertTrue(refusal { $0["decoder"] = ["type": "WordPiece"] }.contains("key \"decoder.type\""))
        XCTAssertTrue(
            refusal { spec in
                spec["pre_tokenizer"] = [
                    "type": "Sequence",
                    "pretokenizers": [
                        ["type": "Split", "pattern": ["Regex": "(unclosed"], "behavior": "Isolated", "invert": false],
                        ["type": "ByteLevel", "add_prefix_space": false, "use_regex": false],
                    ],
                ]
            }.contains("key \"pre_tokenizer.pretokenizers[0].pattern\": does not compile"))
        XCTAssertTrue(
            refusal { spec in
                var added = spec["added_tokens"] as! [[String: Any]]
                added[0]["single_word"] = true
                spec["added_tokens"] = added
            }.contains("key \"added_tokens[0].single_word\""))
        // Ids past the model's vocabulary (259 for the default config; this one has 600).
        XCTAssertTrue(refusal { _ in }.contains("beyond the model's vocab_size 259"))
        XCTAssertTrue(refusal { $0["model"] = nil }.contains("key \"model\": missing"))
    }

    /// What `grpo export` writes for the byte tokenizer encodes as it does, read by the BPE code.
    func testExportedByteTokenizerFilesEncodeAsTheByteTokenizer() throws {
        let config = ModelConfig()
        let files = ByteTokenizerFiles.files(for: config)
        let bpe = try TokenizerFiles.bpe(files: files, source: "export", config: config)
        XCTAssertTrue(bpe.encodesAsByteTokenizer)
        let bytes = ByteTokenizer(config: config)
        for text in ["", "hello", "<|bos|> typed as text", "é😀\u{3000}\t\n", "  x  ", "1+1=2<|eos|>"] {
            XCTAssertEqual(bpe.encode(text, addBOS: true), bytes.encode(text, addBOS: true), text)
            XCTAssertEqual(bpe.decode(bytes.encode(text) + [bytes.eos, bytes.pad]), text)
        }
        // A trained tokenizer does not pass for the byte tokenizer.
        let trained = try TokenizerFiles.standalone(Self.bpe.appendingPathComponent("gpt2.json"))
        XCTAssertFalse(trained.encodesAsByteTokenizer)
    }
}
