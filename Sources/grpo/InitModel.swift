import ArgumentParser
import Foundation
import Policy

struct InitModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init-model", abstract: "Write a randomly initialised policy checkpoint.")

    @Option(help: "A named shape (\(ModelConfig.shapeNames.joined(separator: ", "))).")
    var shape = "tiny"
    @Option(help: "A config.json to use instead of a named shape.")
    var config: String?
    @Option(help: "Output checkpoint folder.")
    var out: String
    @Option(help: "Initialisation seed.")
    var seed: UInt64 = 0

    func run() throws {
        let cfg = try config.map { try ModelConfig.load(URL(fileURLWithPath: $0)) } ?? ModelConfig.named(shape)
        try ByteTokenizer.validate(cfg, source: config ?? shape)
        let model = Transformer(config: cfg)
        model.initialize(seed: seed)
        try Checkpoint.save(to: URL(fileURLWithPath: out), model: model)
        let l = model.layout
        print(
            "wrote \(out): \(config ?? shape), \(l.count) parameters (\(l.activeCount) active per token), seed \(seed)")
    }
}
