import ArgumentParser
import Foundation
import Kernels
import RewardRules
import Support

struct BLASCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas",
        abstract: "Show the OpenBLAS kernel in use, what OpenBLAS picked by itself and why, and the CPU's features.",
        discussion: """
            When OpenBLAS picks a kernel older than the CPU allows (a CPU model newer than the library), grpo \
            runs the best kernel for the CPU's features instead, after a numerical self-check in a child process. \
            OPENBLAS_CORETYPE, when set, is always respected. GRPO_BLAS_KERNEL=off turns the choice off; \
            GRPO_BLAS_KERNEL=SkylakeX,Haswell names the kernels to try, best first.
            """)

    @Flag(help: "Print one JSON object.") var json = false
    @Flag(help: "Run the self-check on the kernel in use (exit status 1 when a product is wrong).") var check = false
    @Flag var quiet = false

    func run() throws {
        let state = BLASStartup.state
        let failure = check ? BLASSelfCheck.run() : nil
        if json {
            let encoded = try JSONEncoder.sortedKeys.encode(state)
            var object = try JSONDecoder().decode([String: JSONValue].self, from: encoded)
            if check { object["self_check"] = .string(failure ?? "passed") }
            print(String(decoding: try JSONEncoder.sortedKeys.encode(object), as: UTF8.self))
        } else {
            print(state.summary)
            let cpu = state.cpu
            print(
                "cpu: \(cpu.architecture.rawValue) \(cpu.vendor) family \(cpu.family) model \(cpu.model);"
                    + " features: \(cpu.names.joined(separator: " "))")
            if check { print("self-check: \(failure ?? "passed")") }
        }
        if let failure { throw ValidationError("self-check failed: \(failure)") }
    }
}
