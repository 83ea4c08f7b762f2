// Headless Chromium driven over its DevTools pipe, to time the viewer's pages
// by the wall clock: `--remote-debugging-pipe` reads commands on its fd 3 and
// writes answers on its fd 4, each one JSON message ending in a NUL byte.
// (`--dump-dom` with a virtual time budget runs the page on a virtual clock
// that stands still while fetches are pending: right for checking what a page
// shows, wrong for timing it.) The browser is killed past its deadline.

import Foundation

#if canImport(Glibc)
import Glibc
#endif

final class HeadlessChromium {
    private var pid: pid_t = 0
    private let commands: FileHandle
    private let answers: FileHandle
    private var pending = Data()
    private var lastID = 0
    private var session = ""
    private let killer: DispatchWorkItem

    init(_ chromium: String, profile: URL, seconds: TimeInterval) throws {
        var toBrowser: [Int32] = [0, 0]
        var fromBrowser: [Int32] = [0, 0]
        guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0 else { throw Self.failure("pipe: errno \(errno)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toBrowser[0], 3)
        posix_spawn_file_actions_adddup2(&actions, fromBrowser[1], 4)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let arguments = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-extensions", "--remote-debugging-pipe", "--user-data-dir=\(profile.path)", "about:blank",
        ]
        var argv = arguments.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        let spawned = posix_spawn(&pid, chromium, &actions, nil, &argv, environ)
        close(toBrowser[0])
        close(fromBrowser[1])
        commands = FileHandle(fileDescriptor: toBrowser[1], closeOnDealloc: true)
        answers = FileHandle(fileDescriptor: fromBrowser[0], closeOnDealloc: true)
        guard spawned == 0 else { throw Self.failure("\(chromium): cannot start (error \(spawned))") }
        let child = pid
        killer = DispatchWorkItem { kill(child, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: killer)
        let target = try call("Target.createTarget", ["url": "about:blank"])["targetId"] as? String ?? ""
        session =
            try call("Target.attachToTarget", ["targetId": target, "flatten": true])["sessionId"] as? String ?? ""
    }

    /// Milliseconds from navigating to `url` (from a blank page) until `expression` is a non-empty
    /// string, and that string.
    func time(_ url: String, until expression: String, seconds: TimeInterval = 30) throws -> (ms: Double, value: String)
    {
        _ = try call("Page.navigate", ["url": "about:blank"], inPage: true)
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try call("Page.navigate", ["url": url], inPage: true)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let answer = try call("Runtime.evaluate", ["expression": expression, "returnByValue": true], inPage: true)
            if let value = (answer["result"] as? [String: Any])?["value"] as? String, !value.isEmpty {
                return (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6, value)
            }
            usleep(2000)
        }
        throw Self.failure("\(url): \(expression) still empty after \(Int(seconds)) s")
    }

    func quit() {
        _ = try? call("Browser.close", [:])
        var status: Int32 = 0
        for _ in 0..<200 where waitpid(pid, &status, WNOHANG) == 0 { usleep(10_000) }
        if waitpid(pid, &status, WNOHANG) == 0 {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
        }
        killer.cancel()
    }

    /// Sends a command and waits for its answer (events in between are skipped).
    private func call(_ method: String, _ parameters: [String: Any], inPage: Bool = false) throws -> [String: Any] {
        lastID += 1
        var message: [String: Any] = ["id": lastID, "method": method, "params": parameters]
        if inPage { message["sessionId"] = session }
        try commands.write(contentsOf: try JSONSerialization.data(withJSONObject: message) + [0])
        while true {
            while pending.firstIndex(of: 0) == nil {
                let chunk = answers.availableData
                if chunk.isEmpty { throw Self.failure("chromium closed its pipe during \(method)") }
                pending += chunk
            }
            let end = pending.firstIndex(of: 0)!
            let text = pending[pending.startIndex..<end]
            pending = Data(pending[(end + 1)...])
            guard let object = try JSONSerialization.jsonObject(with: text) as? [String: Any],
                object["id"] as? Int == lastID
            else { continue }
            if let error = object["error"] as? [String: Any] {
                throw Self.failure("\(method): \(error["message"] as? String ?? "\(error)")")
            }
            return object["result"] as? [String: Any] ?? [:]
        }
    }

    private static func failure(_ message: String) -> ViewerError { .failed("chromium: \(message)") }
}
