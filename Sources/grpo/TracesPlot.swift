import ArgumentParser
import Foundation
import Traces

extension TracesCommand {
    struct Plot: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "SVG plots of a run: reward, each rule's pass rate (diagnostics too), completion length.",
            discussion: """
                Writes reward.svg, pass_rates.svg (with held-out accuracy points where evaluations were \
                recorded) and completion_length.svg into --out, each against the step.
                """)
        @Option(help: "Trace database (default: the most recently written *.sqlite under runs/).") var db: String?
        @Option(name: .customLong("run"), help: "Run id or name (default: the latest run).") var runName: String?
        @Option(help: "Folder for the SVG files (created if needed).") var out: String

        func run() throws {
            let reader = try TraceReader(path: db ?? TraceReader.latest())
            let files = try RunPlots.write(from: reader, run: reader.resolveRun(runName), to: URL(fileURLWithPath: out))
            for file in files { print(file.path) }
        }
    }
}
