import ArgumentParser
import Foundation
import Policy
import Support
import Training

struct SFT: ParsableCommand {
    static let abstract = "Supervised fine-tuning on (prompt, completion) pairs: the cold start."
    static let configuration = CommandConfiguration(
        commandName: "sft", abstract: abstract,
        discussion: tableDiscussion("sft"), helpNames: [])
    @Argument(parsing: .allUnrecognized, help: "Options (grpo sft --help).") var arguments: [String] = []

    func run() throws {
        guard let line = try readCommandLine(SFTConfig.options, arguments, abstract: Self.abstract) else { return }
        let cfg = try SFTConfig.resolve(configFile: line.configFile, flags: line.flags)
        let terminal = Terminal(quiet: cfg.quiet)
        let runner: SFTRunner
        do { runner = try SFTRunner.start(cfg) } catch let e as RunError { throw ValidationError(e.message) }
        Interrupt.shared.install(terminal)
        var finished = false
        var last = (path: "", step: 0)
        try runner.run(shouldStop: { Interrupt.shared.requested }) { event in
            switch event {
            case let .started(examples, dropped, truncated, startStep, maxSteps):
                terminal.note(
                    "sft: \(examples) examples (\(dropped) too long, dropped; \(truncated) truncated), steps "
                        + "\(startStep + 1)...\(maxSteps)"
                )
            case .step(let r):
                let mtp = r.mtpLoss.map { String(format: "  mtp_loss %.4f", $0) } ?? ""
                terminal.progress(
                    String(
                        format:
                            "step %d/%d  loss %.4f%@  grad %.2f  lr %.2e  %.0f tok/s  %.2f s/step  ETA %@  epoch %d",
                        r.step, r.maxSteps, r.loss, mtp, r.gradNorm, r.learningRate, r.tokensPerSecond,
                        r.secondsPerStep, formatDuration(r.etaSeconds), r.epoch))
                if cfg.json, let data = try? JSONEncoder.sortedKeys.encode(r) {
                    print(String(data: data, encoding: .utf8)!)
                }
            case let .checkpoint(path, step):
                last = (path, step)
                terminal.note("checkpoint: \(path) (step \(step))")
            case let .finished(step, seconds, loss):
                finished = true
                terminal.note(
                    String(
                        format: "sft done: %d steps in %@, final loss %.4f, model in %@", step, formatDuration(seconds),
                        loss,
                        (cfg.outputFolder as NSString).appendingPathComponent("final")))
            }
        }
        if !finished {
            terminal.note(
                "interrupted at step \(last.step); checkpoint: \(last.path); continue with: grpo sft "
                    + "--resume_from_checkpoint \(cfg.outputFolder)")
            throw ExitCode(130)
        }
    }
}
