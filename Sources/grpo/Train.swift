import ArgumentParser
import Foundation
import Training

struct Train: ParsableCommand {
    static let abstract = "GRPO: sample groups, score them with the rules, update the policy, record every sample."
    static let configuration = CommandConfiguration(
        abstract: abstract, discussion: tableDiscussion("train"),
        helpNames: [])
    @Argument(parsing: .allUnrecognized, help: "Options (grpo train --help).") var arguments: [String] = []

    func run() throws {
        let table = GRPOConfig.options
        guard let line = try readCommandLine(table, arguments, abstract: Self.abstract) else { return }
        let run: GRPORun
        do { run = try GRPORun(configFile: line.configFile, flags: line.flags) } catch let e as RunError {
            throw ValidationError(e.message)
        }
        let cfg = run.config
        let terminal = Terminal(quiet: cfg.quiet)
        let end: GRPORunEnd
        do {
            end = try run.run(shouldStop: { Interrupt.shared.requested }) { event in
                render(event, cfg, terminal) { run.markAbandoned() }
            }
        } catch let e as RunError {
            throw ValidationError(e.message)
        }
        switch end {
        case let .interrupted(step, maxSteps, checkpoint):
            terminal.note(
                "interrupted at step \(step) of \(maxSteps); checkpoint: \(checkpoint); "
                    + "continue with: grpo train --resume_from_checkpoint \(checkpoint)")
            throw ExitCode(130)
        case let .finished(steps, seconds, database, model):
            terminal.note(
                "done: \(steps) steps in \(formatDuration(seconds)); traces: \(database); model: \(model)")
        }
    }

    func render(_ event: GRPORunEvent, _ cfg: GRPOConfig, _ terminal: Terminal, abandon: @escaping () -> Void) {
        switch event {
        case .warning(let warning): terminal.note("warning: \(warning)")
        case let .resumed(runName, step, checkpoint):
            terminal.note("resumed \(runName) at step \(step) from \(checkpoint)")
        case .removedStaleTemporary(let path):
            terminal.note("removed \(path), left by a save that was killed midway")
        case .started: Interrupt.shared.install(terminal, beforeExit: abandon)
        case let .step(report, logged, secondsPerStep):
            if cfg.json && logged { print(metricsLine(report)) }
            for e in report.newErrors {
                terminal.note(
                    "rule \"\(e.rule)\" failed to score \(e.errors) of \(e.scored) samples at step "
                        + "\(report.step) (its first error, shown once): \(e.firstMessage ?? "")")
            }
            if report.step == 1 && cfg.numIterations == 1 {
                terminal.note(
                    "note: with num_iterations = 1 the ratio is exactly 1 and each group's advantages sum to 0, "
                        + "so the loss is about 0; its gradient is still the policy gradient")
            }
            if logged {
                terminal.progress(progressLine(report, maxSteps: cfg.maxSteps, secondsPerStep: secondsPerStep))
            }
        case .checkpoint(let path): terminal.note("checkpoint: \(path)")
        case let .evaluated(step, accuracy, tasks, taskSet):
            terminal.note(
                String(format: "eval step %d: accuracy %.3f on %d %@ test tasks", step, accuracy, tasks, taskSet))
        case .plots(let path): terminal.note("plots: \(path)")
        }
    }

    func progressLine(_ r: GRPOStepReport, maxSteps: Int, secondsPerStep: Double) -> String {
        let m = r.metrics
        var parts = [
            String(format: "step %d/%d", r.step, maxSteps), String(format: "%.2f s/step", secondsPerStep),
            "ETA " + formatDuration(secondsPerStep * Double(maxSteps - r.step)),
            String(format: "reward %.3f", m.rewardMean ?? .nan),
        ]
        parts += r.rulePassRates.map { rate in
            let errors = r.errors(of: rate.rule)
            return String(format: "%@ %.0f%%", rate.rule, rate.rate * 100) + (errors > 0 ? " (\(errors) err)" : "")
        }
        if let kl = m.kl { parts.append(String(format: "kl %.4f", kl)) }
        parts.append(String(format: "clip %.3f", (m.clipFracLow ?? 0) + (m.clipFracHigh ?? 0)))
        parts.append(String(format: "len %.0f", m.completionLenMean ?? 0))
        return parts.joined(separator: "  ")
    }

    func metricsLine(_ r: GRPOStepReport) -> String { "{\"step\":\(r.step),\"metrics\":\(r.metrics.json)}" }
}
