import ArgumentParser
import Foundation
import Policy
import Training

struct GRPO: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "grpo", abstract: "swift-grpo",
                                                    subcommands: [Bench.self])
}

struct Bench: ParsableCommand {
    @Option var shape = "tiny"
    @Option var repeats = 5
    @Flag var json = false
    @Option var only = "sample,train,logprob"
    func run() throws {
        let report = try Benchmark.run(shape: shape, config: try ModelConfig.named(shape), repeats: repeats,
                                         phases: Set(only.split(separator: ",").map(String.init))) {
            FileHandle.standardError.write("bench: \($0)\n".data(using: .utf8)!)
        }
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys]
        print(String(data: try e.encode(report), encoding: .utf8)!)
    }
}
GRPO.main()
