// Memory and process limits for a run as a whole. rlimits are per process
// (RLIMIT_AS) or per uid (RLIMIT_NPROC): five forks of 400 MB each pass an
// address-space limit of 512 MB. A cgroup per run slot holds every process of
// the run, and the kernel bounds their sum:
//   cgroup v2: memory.max (+ memory.swap.max 0) and pids.max, in a cgroup
//              below this process's own whose subtree has both controllers;
//   cgroup v1: memory.limit_in_bytes (+ memsw) and pids.max, below this
//              process's own memory and pids cgroups;
//   otherwise: the rlimits alone (`RunLimitMode.rlimits` says why).
// The run's outer process joins the slot's cgroup before it creates its
// namespaces, so every process of the run is in it. A slot's cgroup is reused
// by its later runs (only one runs at a time) and removed when the sandbox
// goes away or the process exits; ones left by a process killed with SIGKILL
// are removed by the next process that looks.

import Foundation

/// How this machine bounds a run as a whole (see RunGroups.swift).
public enum RunLimitMode: Sendable, Equatable {
    case cgroupV2(directory: String)
    case cgroupV1(memory: String, pids: String)
    case rlimits(reason: String)

    /// Whether memory and processes are bounded for the run as a whole.
    public var boundsWholeRun: Bool {
        if case .rlimits = self { return false }
        return true
    }

    public var summary: String {
        switch self {
        case .cgroupV2(let d): return "cgroup v2: memory.max and pids.max per run (under \(d))"
        case let .cgroupV1(m, p): return "cgroup v1: memory.limit_in_bytes and pids.max per run (under \(m) and \(p))"
        case .rlimits(let why):
            return "rlimits only: address space per process, processes per sandbox uid (no cgroup: \(why))"
        }
    }
}

final class RunGroups: @unchecked Sendable {
    static let mode: RunLimitMode = detect()

    private let memoryBytes: Int
    private let maxProcesses: Int
    private let prefix: String
    private let lock = NSLock()
    /// Per slot: the directories made, and the cgroup.procs files a run joins.
    private var made: [Int: [String]] = [:]

    private static let instances = Counter()

    init(memoryBytes: Int, maxProcesses: Int) {
        self.memoryBytes = memoryBytes
        self.maxProcesses = maxProcesses
        prefix = "\(RunGroups.namePrefix)\(getpid())-\(RunGroups.instances.next())"
    }

    deinit { removeAll() }

    /// The cgroup.procs files a run in `slot` joins: made on first use; empty when the
    /// machine has no usable cgroup.
    func procsFiles(slot: Int) throws -> [String] {
        lock.lock()
        defer { lock.unlock() }
        if let dirs = made[slot] { return dirs.map { $0 + "/cgroup.procs" } }
        var dirs: [String] = []
        // The outer process, the namespace's init and the program count too.
        let pids = String(maxProcesses + 2)
        let memory = String(memoryBytes)
        do {
            switch RunGroups.mode {
            case .rlimits: return []
            case .cgroupV2(let parent):
                let d = try RunGroups.make(parent + "/" + prefix + "-\(slot)")
                dirs.append(d)
                try RunGroups.write(d + "/memory.max", memory)
                _ = try? RunGroups.write(d + "/memory.swap.max", "0")
                try RunGroups.write(d + "/pids.max", pids)
            case let .cgroupV1(memoryParent, pidsParent):
                let m = try RunGroups.make(memoryParent + "/" + prefix + "-\(slot)")
                dirs.append(m)
                try RunGroups.write(m + "/memory.limit_in_bytes", memory)
                _ = try? RunGroups.write(m + "/memory.memsw.limit_in_bytes", memory)
                let p = try RunGroups.make(pidsParent + "/" + prefix + "-\(slot)")
                dirs.append(p)
                try RunGroups.write(p + "/pids.max", pids)
            }
        } catch {
            for d in dirs { RunGroups.remove(d) }
            throw error
        }
        made[slot] = dirs
        return dirs.map { $0 + "/cgroup.procs" }
    }

    func removeAll() {
        lock.lock()
        defer { lock.unlock() }
        for dirs in made.values { for d in dirs { RunGroups.remove(d) } }
        made = [:]
    }

    /// Cgroups this process made that still exist.
    static func remaining() -> Int {
        let prefix = namePrefix + "\(getpid())-"
        let parents: [String]
        switch mode {
        case .cgroupV2(let d): parents = [d]
        case let .cgroupV1(m, p): parents = [m, p]
        case .rlimits: return 0
        }
        return parents.reduce(0) { total, d in
            let names = (try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []
            return total + names.filter { $0.hasPrefix(prefix) }.count
        }
    }

    // MARK: the machine's cgroups

    static let namePrefix = "grpo-sandbox-"

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Every directory this process made, for the exit handler.
    private static let registry = Registry()

    private static func make(_ path: String) throws -> String {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw Failure(description: "cannot make the run's cgroup \(path): \(String(cString: strerror(errno)))")
        }
        registry.add(path)
        return path
    }

    private static func remove(_ path: String) {
        // A run's processes are all reaped before its slot is free; a busy cgroup is retried briefly.
        for attempt in 0..<20 {
            if rmdir(path) == 0 || errno == ENOENT { break }
            if errno != EBUSY || attempt == 19 { break }
            usleep(10_000)
        }
        registry.remove(path)
    }

    static func write(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard Glibc.write(fd, bytes, bytes.count) == bytes.count else {
            throw Failure(description: "cannot write \(text) to \(path): \(String(cString: strerror(errno)))")
        }
    }

    private static func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))
    }

    /// Finds the cgroup this process may place runs under, and removes what dead processes left there.
    static func detect() -> RunLimitMode {
        guard geteuid() == 0 else { return .rlimits(reason: "not root") }
        atexit { RunGroups.registry.removeAll() }
        guard let mountinfo = read("/proc/self/mountinfo"), let own = read("/proc/self/cgroup") else {
            return .rlimits(reason: "no /proc/self/mountinfo or /proc/self/cgroup")
        }
        // mountinfo: id parent major:minor root mountpoint options ... - fstype source superoptions
        let mounts: [(root: String, point: String, type: String, options: Set<String>)] =
            mountinfo
            .split(separator: "\n").compactMap { line in
                let halves = line.components(separatedBy: " - ")
                guard halves.count == 2 else { return nil }
                let a = halves[0].split(separator: " ")
                let b = halves[1].split(separator: " ")
                guard a.count >= 5, b.count >= 3 else { return nil }
                return (
                    unescape(String(a[3])), unescape(String(a[4])), String(b[0]),
                    Set(b[2].split(separator: ",").map(String.init))
                )
            }
        // /proc/self/cgroup: hierarchy-id:controllers:path
        let memberships: [(controllers: Set<String>, path: String)] = own.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard f.count == 3 else { return nil }
            return (Set(f[1].split(separator: ",").map(String.init)), String(f[2]))
        }
        func directory(
            _ mount: (root: String, point: String, type: String, options: Set<String>), _ path: String
        )
            -> String
        {
            var relative = path
            if mount.root != "/" && path.hasPrefix(mount.root) { relative = String(path.dropFirst(mount.root.count)) }
            if relative.isEmpty || relative == "/" { return mount.point }
            return mount.point + (relative.hasPrefix("/") ? relative : "/" + relative)
        }
        if let unified = mounts.first(where: { $0.type == "cgroup2" }),
            let path = memberships.first(where: { $0.controllers.isEmpty || $0.controllers == [""] })?.path
        {
            let dir = directory(unified, path)
            let available = Set(
                (read(dir + "/cgroup.controllers") ?? "").split(whereSeparator: \.isWhitespace)
                    .map(String.init))
            if available.isSuperset(of: ["memory", "pids"]) {
                let enabled = Set(
                    (read(dir + "/cgroup.subtree_control") ?? "").split(whereSeparator: \.isWhitespace)
                        .map(String.init))
                if !enabled.isSuperset(of: ["memory", "pids"]) {
                    _ = try? write(dir + "/cgroup.subtree_control", "+memory +pids")
                }
                if usable(dir, files: ["memory.max", "pids.max"]) { return .cgroupV2(directory: dir) }
            }
        }
        func v1(_ controller: String) -> String? {
            guard let mount = mounts.first(where: { $0.type == "cgroup" && $0.options.contains(controller) }),
                let path = memberships.first(where: { $0.controllers.contains(controller) })?.path
            else { return nil }
            return directory(mount, path)
        }
        if let memory = v1("memory"), let pids = v1("pids"),
            usable(memory, files: ["memory.limit_in_bytes"]), usable(pids, files: ["pids.max"])
        {
            return .cgroupV1(memory: memory, pids: pids)
        }
        return .rlimits(reason: "no cgroup with the memory and pids controllers that this process can manage")
    }

    /// Whether a child cgroup with `files` can be made in `dir` (removing the children
    /// that processes no longer alive left there).
    private static func usable(_ dir: String, files: [String]) -> Bool {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where name.hasPrefix(namePrefix) {
            let owner = name.dropFirst(namePrefix.count).split(separator: "-").first.flatMap { Int32($0) }
            if let owner, owner != getpid(), kill(owner, 0) != 0 && errno == ESRCH { rmdir(dir + "/" + name) }
        }
        let probe = dir + "/" + namePrefix + "\(getpid())-probe"
        guard mkdir(probe, 0o755) == 0 || errno == EEXIST else { return false }
        defer { rmdir(probe) }
        return files.allSatisfy { FileManager.default.fileExists(atPath: probe + "/" + $0) }
    }

    /// mountinfo escapes spaces, tabs, newlines and backslashes as octal (\040).
    private static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = [UInt8]()
        var bytes = Array(s.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count,
                let v = UInt8(String(decoding: bytes[(i + 1)...(i + 3)], as: UTF8.self), radix: 8)
            {
                out.append(v)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The directories made by this process, removed at exit.
    final class Registry: @unchecked Sendable {
        private let lock = NSLock()
        private var paths = Set<String>()
        func add(_ p: String) {
            lock.lock()
            paths.insert(p)
            lock.unlock()
        }
        func remove(_ p: String) {
            lock.lock()
            paths.remove(p)
            lock.unlock()
        }
        func removeAll() {
            lock.lock()
            let all = paths
            paths = []
            lock.unlock()
            for p in all { rmdir(p) }
        }
    }
}

/// A lock-protected counter.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}
