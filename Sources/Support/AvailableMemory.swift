// How much memory a run may still take, so that a configuration asking for
// more is refused before anything is allocated (a typo in a size must not
// grow the process by gigabytes a second until the kernel kills it, or
// something else on the machine). The smaller of what the kernel calls
// available and what this process's cgroup v2 still allows.

import Foundation

public enum AvailableMemory {
    /// Bytes this process can still allocate, or nil where the system does not say (not Linux).
    public static func bytes() -> Double? {
        var limits: [Double] = []
        if let meminfo = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
            let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
            let kb = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        {
            limits.append(kb * 1024)
        }
        // cgroup v2, then v1. "max" (no limit) does not parse: left out.
        for (folder, limit, usage) in cgroupFiles() {
            if let max = read(folder + limit).flatMap(Double.init),
                let current = read(folder + usage).flatMap(Double.init)
            {
                limits.append(Swift.max(0, max - current))
            }
        }
        return limits.min()
    }

    /// Nil when `needed` bytes fit, else "about X, with Y available".
    public static func shortfall(needing needed: Double) -> String? {
        guard let available = bytes(), needed > available else { return nil }
        return "about \(describe(needed)), with \(describe(available)) available"
    }

    /// 1.5 GB, 830 MB, 12 kB: decimal units, three significant figures at most.
    public static func describe(_ bytes: Double) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]
        var value = bytes
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        if unit == units.count - 1 && value >= 1000 { return String(format: "%.3g %@", bytes, "B") }
        return String(format: value < 10 ? "%.2g %@" : "%.0f %@", value, units[unit])
    }

    /// This process's memory cgroup folders with their limit and usage files: "0::/path"
    /// (v2) and "N:memory:/path" (v1) in /proc/self/cgroup.
    private static func cgroupFiles() -> [(String, String, String)] {
        guard let text = read("/proc/self/cgroup") else { return [] }
        var out: [(String, String, String)] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if fields[1].isEmpty {
                out.append(("/sys/fs/cgroup" + fields[2], "/memory.max", "/memory.current"))
            } else if fields[1].split(separator: ",").contains("memory") {
                out.append(("/sys/fs/cgroup/memory" + fields[2], "/memory.limit_in_bytes", "/memory.usage_in_bytes"))
            }
        }
        return out
    }

    private static func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
