// Progress on the terminal: one line rewritten in place on a TTY, plain lines
// otherwise (logs, CI), nothing with --quiet. Always on standard error, so
// standard output stays clean for --json.

import Foundation

struct Terminal {
    var quiet = false
    let isTTY = isatty(STDERR_FILENO) == 1

    /// A progress line: rewritten in place on a terminal.
    func progress(_ line: String) {
        guard !quiet else { return }
        if isTTY { write("\r\u{1B}[2K" + line) } else { write(line + "\n") }
    }

    /// A line that stays (ends a progress line first).
    func note(_ line: String) {
        guard !quiet else { return }
        write((isTTY ? "\r\u{1B}[2K" : "") + line + "\n")
    }

    /// Progress is best effort: a closed standard error (EPIPE) must not stop the work.
    private func write(_ s: String) { try? FileHandle.standardError.write(contentsOf: Data(s.utf8)) }
}

func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : String(format: "%d:%02d", s / 60, s % 60)
}

/// Ctrl-C sets a flag the long jobs check between steps (finish the step,
/// write a checkpoint, exit cleanly); a second Ctrl-C runs `beforeExit` (which
/// records the run as interrupted) and exits at once.
final class Interrupt: @unchecked Sendable {
    static let shared = Interrupt()
    private(set) var requested = false
    private var source: DispatchSourceSignal?

    func install(_ terminal: Terminal, beforeExit: @escaping () -> Void = {}) {
        signal(SIGINT, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        s.setEventHandler { [unowned self] in
            if self.requested {
                beforeExit()
                // _exit, not exit: exit would run the libraries' exit handlers (OpenBLAS frees its
                // buffers) while another thread may be inside a product, and crash. The sandbox's
                // cgroups left behind are removed by the next grpo that looks.
                fflush(nil)
                _exit(130)
            }
            self.requested = true
            terminal.note("interrupted: finishing the current step and writing a checkpoint (Ctrl-C again to quit now)")
        }
        s.resume()
        source = s
    }
}
