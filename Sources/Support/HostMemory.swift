// Large buffers (parameters, gradients, Adam moments, activations, the KV
// cache) are mapped on their own and marked MADV_DONTFORK. The reward sandbox
// forks the trainer three times for every program it runs, and fork copies the
// page tables of everything mapped, which for a training step's buffers costs
// far more than the fork itself (docs/measurements.md); none of the children
// touches them: they only set up namespaces and exec.
// Small buffers come from malloc as usual.

import Foundation
import Glibc

public enum HostMemory {
    /// From this size up, a buffer gets its own mapping.
    public static let mappedBytes = 1 << 20

    /// `count` zeroed elements of a plain (POD) type.
    public static func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let bytes = count * MemoryLayout<T>.stride
        if bytes >= mappedBytes {
            let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            if let p, p != MAP_FAILED {
                _ = madvise(p, bytes, MADV_DONTFORK)  // best effort: without it forks are only slower
                return p.bindMemory(to: T.self, capacity: count)  // anonymous mappings are zero-filled
            }
        }
        let p = UnsafeMutablePointer<T>.allocate(capacity: count)
        UnsafeMutableRawPointer(p).initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        return p
    }

    /// Frees what `allocate` returned for the same count.
    public static func deallocate<T>(_ p: UnsafeMutablePointer<T>, count: Int) {
        let bytes = count * MemoryLayout<T>.stride
        if bytes >= mappedBytes {
            munmap(UnsafeMutableRawPointer(p), bytes)
        } else {
            p.deallocate()
        }
    }

    /// Whether the page holding `p` is left out of forked children ("dc" among its
    /// mapping's VmFlags in /proc/self/smaps), for tests.
    public static func isLeftOutOfForks(_ p: UnsafeRawPointer) -> Bool {
        // Read with getline: /proc files report size 0, which whole-file readers trust.
        guard let file = fopen("/proc/self/smaps", "r") else { return false }
        defer { fclose(file) }
        let address = UInt(bitPattern: p)
        var inside = false
        var buffer: UnsafeMutablePointer<CChar>?
        var size = 0
        defer { free(buffer) }
        while getline(&buffer, &size, file) > 0, let buffer {
            let line = String(cString: buffer).trimmingCharacters(in: .newlines)
            let first = line.prefix { $0 != " " }
            if let dash = first.firstIndex(of: "-"), let lo = UInt(first[..<dash], radix: 16),
                let hi = UInt(first[first.index(after: dash)...], radix: 16)
            {
                inside = lo <= address && address < hi  // a mapping's header line
            } else if inside && first == "VmFlags:" {
                return line.split(separator: " ").contains("dc")
            }
        }
        return false
    }
}
