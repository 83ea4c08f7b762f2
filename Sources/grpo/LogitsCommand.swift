import ArgumentParser
import Foundation
import Policy

struct LogitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logits",
        abstract: "Print a checkpoint's next-token logits at every position of a prompt, as JSON.",
        discussion: """
            The prompt is encoded with the checkpoint's tokenizer, bos first (as sampling does), unless --tokens \
            gives the ids. Prints {"tokens": [...], "logits": [[...], ...]}: one row of vocab_size floats per \
            position. For comparing with other implementations of the same weights.
            """)

    @Option(help: "Checkpoint folder.") var checkpoint: String
    @Option(help: "Prompt text.") var prompt: String?
    @Option(help: "Comma-separated token ids instead of a prompt.") var tokens: String?

    func validate() throws {
        guard (prompt == nil) != (tokens == nil) else { throw ValidationError("give --prompt or --tokens") }
    }

    func run() throws {
        let model = try Checkpoint.loadModel(from: URL(fileURLWithPath: checkpoint))
        let ids: [Int32]
        if let tokens {
            ids = try tokens.split(separator: ",").map {
                guard let id = Int32($0.trimmingCharacters(in: .whitespaces)), id >= 0, Int(id) < model.config.vocabSize
                else { throw ValidationError("--tokens: \"\($0)\" is not a token id below \(model.config.vocabSize)") }
                return id
            }
        } else {
            ids = model.tokenizer.encode(prompt ?? "", addBOS: true)
        }
        guard !ids.isEmpty, ids.count <= model.config.maxPositionEmbeddings else {
            let limit = model.config.maxPositionEmbeddings
            throw ValidationError("\(ids.count) tokens: need 1 to max_position_embeddings (\(limit))")
        }
        let v = model.config.vocabSize
        let logits = model.logits(tokens: ids, batch: 1, length: ids.count)
        let rows = (0..<ids.count).map { r in logits[(r * v)..<((r + 1) * v)].map { Double($0) } }
        let object: [String: Any] = ["tokens": ids.map(Int.init), "logits": rows]
        let data = try JSONSerialization.data(withJSONObject: object)
        print(String(decoding: data, as: UTF8.self))
    }
}
