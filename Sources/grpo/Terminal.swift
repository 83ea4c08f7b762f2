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
///
/// A plain signal handler that writes a byte to a pipe, read by a thread of its own: it runs on
/// whichever thread the kernel picks. A dispatch signal source with SIGINT ignored once lost a
/// Ctrl-C (an SFT run went on to its last step), most likely taken by a BLAS or worker thread.
final class Interrupt: @unchecked Sendable {
    static let shared = Interrupt()
    private(set) var requested = false

    func install(_ terminal: Terminal, beforeExit: @escaping () -> Void = {}) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        interruptPipe = fds[1]
        let reader = fds[0]
        let thread = Thread { [unowned self] in
            var byte: UInt8 = 0
            while true {
                let n = read(reader, &byte, 1)
                if n < 0 && errno == EINTR { continue }
                guard n == 1 else { return }
                if self.requested {
                    beforeExit()
                    // _exit, not exit: exit would run the libraries' exit handlers (OpenBLAS frees
                    // its buffers) while another thread may be inside a product, and crash. The
                    // sandbox's cgroups left behind are removed by the next grpo that looks.
                    fflush(nil)
                    _exit(130)
                }
                self.requested = true
                terminal.note(
                    "interrupted: finishing the current step and writing a checkpoint (Ctrl-C again to quit now)")
            }
        }
        thread.start()
        signal(SIGINT) { _ in
            var byte: UInt8 = 1
            _ = write(interruptPipe, &byte, 1)
        }
    }
}

/// The interrupt pipe's write end, for the signal handler (set before the handler is installed).
nonisolated(unsafe) private var interruptPipe: Int32 = -1
