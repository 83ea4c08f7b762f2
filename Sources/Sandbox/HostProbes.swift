// What can be looked at on the host after runs, to show that nothing of them
// is left or reachable: a TCP listener on the host's loopback that programs
// try to reach, System V IPC objects (by key, or by owner) and kernel keys of
// the sandbox uids. For the sandbox's tests and `grpo bench sandbox`.

import Foundation

/// A TCP listener on 127.0.0.1 (a free port) that never accepts by itself.
public final class LoopbackListener {
    let fd: Int32
    public let port: Int

    public struct Failure: Error, CustomStringConvertible { public let description: String }

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, size) == 0 && getsockname(fd, $0, &size) == 0
            }
        }
        guard bound, listen(fd, 16) == 0 else {
            close(fd)
            throw Failure(description: "cannot listen on the loopback: \(String(cString: strerror(errno)))")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }

    /// Connections that arrived (accepted and closed now).
    public func acceptedConnections() -> Int {
        var n = 0
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 { return n }
            close(c)
            n += 1
        }
    }
}

/// System V IPC and kernel keys of the host (this process's namespaces).
public enum HostState {
    /// Shared memory or a message queue exists under `key`.
    public static func ipcExists(key: Int32) -> Bool {
        shmget(key_t(key), 0, 0) >= 0 || msgget(key_t(key), 0) >= 0
    }

    /// Removes the shared memory and message queue under `key` (a failed test must not leave them).
    public static func removeIPC(key: Int32) {
        let shm = shmget(key_t(key), 0, 0)
        if shm >= 0 { shmctl(shm, IPC_RMID, nil) }
        let queue = msgget(key_t(key), 0)
        if queue >= 0 { msgctl(queue, IPC_RMID, nil) }
    }

    /// System V IPC objects owned by these uids (/proc/sysvipc, its "uid" column).
    public static func ipcObjects(ownedBy owners: Range<Int>) -> Int {
        ["shm", "msg", "sem"].reduce(0) { total, kind in
            guard let text = try? String(contentsOfFile: "/proc/sysvipc/\(kind)", encoding: .utf8) else { return total }
            let lines = text.split(separator: "\n")
            guard let column = lines.first?.split(separator: " ").firstIndex(of: "uid") else { return total }
            return total
                + lines.dropFirst().filter { line in
                    let f = line.split(separator: " ")
                    return f.count > column && Int(f[column]).map(owners.contains) == true
                }.count
        }
    }

    /// Kernel keys owned by these uids (/proc/key-users: "uid: usage nkeys/ninstantiated ...").
    public static func keys(ownedBy owners: Range<Int>) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/key-users", encoding: .utf8) else { return 0 }
        return text.split(separator: "\n").reduce(0) { total, line in
            let f = line.split(whereSeparator: { $0 == " " || $0 == ":" })
            guard f.count >= 3, let uid = Int(f[0]), owners.contains(uid),
                let keys = f[2].split(separator: "/").first.flatMap({ Int($0) })
            else { return total }
            return total + keys
        }
    }

    /// Cgroups of this process's sandboxes that still exist (none once every sandbox is gone).
    public static var sandboxCgroups: Int { RunGroups.remaining() }

    /// The uids of the sandbox's slots.
    public static let sandboxUIDs = Sandbox.baseUID..<(Sandbox.baseUID + 1000)
}
