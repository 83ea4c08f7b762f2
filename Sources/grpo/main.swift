import ArgumentParser
import Policy

struct GRPO: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "grpo", abstract: "swift-grpo")
}
GRPO.main()
