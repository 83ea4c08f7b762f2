import ArgumentParser
import Foundation
import Policy

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Encode (or decode) lines of standard input with a checkpoint's tokenizer.",
        discussion: """
            Each input line is a JSON string (encode) or a JSON list of ids (--decode); each output line is the \
            JSON list of ids, without bos (or the decoded JSON string). --tokenizer reads a tokenizer.json \
            instead of a checkpoint's tokenizer.
            """)

    @Option(help: "Checkpoint folder.") var checkpoint: String?
    @Option(help: "A tokenizer.json (byte-level BPE).") var tokenizer: String?
    @Flag(help: "Decode lists of ids instead.") var decode = false

    func validate() throws {
        guard (checkpoint == nil) != (tokenizer == nil) else {
            throw ValidationError("give --checkpoint or --tokenizer")
        }
    }

    func run() throws {
        let tok: any Tokenizer
        if let checkpoint {
            tok = try Checkpoint.loadModel(from: URL(fileURLWithPath: checkpoint)).tokenizer
        } else {
            tok = try TokenizerFiles.standalone(URL(fileURLWithPath: tokenizer!))
        }
        var line = 0
        while let text = readLine(strippingNewline: true) {
            line += 1
            let value = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
            let out: Any
            if decode {
                guard let ids = value as? [Int] else { throw ValidationError("line \(line): not a JSON list of ids") }
                out = tok.decode(ids.map { Int32(truncatingIfNeeded: $0) })
            } else {
                guard let s = value as? String else { throw ValidationError("line \(line): not a JSON string") }
                out = tok.encode(s, addBOS: false).map(Int.init)
            }
            let data = try JSONSerialization.data(
                withJSONObject: out,
                options: [.fragmentsAllowed, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        }
    }
}
