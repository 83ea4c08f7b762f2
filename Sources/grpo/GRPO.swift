// grpo: the command line. One file per subcommand; the library reports
// progress as values and the commands decide how to show them.

import ArgumentParser
import Kernels
import Sandbox

struct GRPO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grpo",
        abstract: "GRPO with rule-based rewards on a DeepSeek-style MoE policy, on one CPU machine.",
        subcommands: [
            InitModel.self, SFT.self, Train.self, Eval.self, Sample.self, Tasks.self, Rewards.self,
            TracesCommand.self, ServeCommand.self, Bench.self, BLASCommand.self, ExportCommand.self, ImportCommand.self,
            LogitsCommand.self, TokenizeCommand.self, HelpOptions.self,
        ])
}

@main
enum Entry {
    static func main() {
        // Before anything else: choosing OpenBLAS's kernel may execute this program again.
        BLASStartup.run(quiet: CommandLine.arguments.dropFirst().contains("--quiet"))
        // A write to a program that has exited (a plugin, the sandbox) fails with EPIPE, which
        // the writer reports, instead of killing grpo without a word.
        ProcessSignals.ignoreBrokenPipes()
        GRPO.main()
    }
}
