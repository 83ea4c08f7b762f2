// The commands whose options come from a table (sft, train, eval): argument-parser
// hands them every argument, the table reads them, and `--help` is the table's.

import ArgumentParser
import Training

/// The parsed command line, or nil after printing the help that `--help` asked for.
func readCommandLine<Root>(
    _ table: OptionTable<Root>, _ arguments: [String], abstract: String
) throws
    -> CommandLineOptions?
{
    let line = try table.parseCommandLine(arguments)
    if line.wantsHelp {
        print(table.help(abstract: abstract))
        return nil
    }
    return line
}

/// The discussion argument-parser shows for such a command (`grpo help sft`).
func tableDiscussion(_ command: String) -> String {
    "Options are Hugging Face / TRL names, from --config FILE (YAML) and flags, which win. "
        + "`grpo \(command) --help` lists every option with its default; "
        + "`grpo help-options \(command) --markdown` prints them as a table."
}

struct HelpOptions: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "help-options", abstract: "The options of sft, train or eval, as help text or a Markdown table.")
    @Argument(help: "sft, train or eval.") var command: String
    @Flag(help: "A Markdown table (the README's).") var markdown = false

    func run() throws {
        switch command {
        case "sft": print(markdown ? SFTConfig.options.markdown() : SFTConfig.options.help(abstract: SFT.abstract))
        case "train":
            print(markdown ? GRPOConfig.options.markdown() : GRPOConfig.options.help(abstract: Train.abstract))
        case "eval": print(markdown ? EvalConfig.options.markdown() : EvalConfig.options.help(abstract: Eval.abstract))
        default: throw ValidationError("no command \"\(command)\" with an option table (sft, train, eval)")
        }
    }
}
