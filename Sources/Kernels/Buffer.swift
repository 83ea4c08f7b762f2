// A growable scratch buffer of plain values: allocated once, reused every
// step, grown only when a batch is bigger than any before it.

import Support

public final class Buffer<Element>: @unchecked Sendable {
    public private(set) var pointer: UnsafeMutablePointer<Element>
    public private(set) var capacity: Int
    private let fill: Element

    public init(_ count: Int = 0, fill: Element) {
        self.fill = fill
        capacity = max(1, count)
        pointer = Self.allocate(capacity, fill: fill)
    }

    /// Plain values come from HostMemory (zeroed; large ones mapped apart, left out of
    /// forks); a non-zero fill is written after.
    private static func allocate(_ count: Int, fill: Element) -> UnsafeMutablePointer<Element> {
        precondition(_isPOD(Element.self), "Buffer holds plain values")
        let p = HostMemory.allocate(Element.self, count: count)
        if !withUnsafeBytes(of: fill, { $0.allSatisfy { $0 == 0 } }) { p.update(repeating: fill, count: count) }
        return p
    }

    deinit { HostMemory.deallocate(pointer, count: capacity) }

    /// At least `count` elements; returns the (possibly new) pointer. Contents
    /// are kept only up to the old capacity.
    @discardableResult
    public func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            let fresh = Self.allocate(count, fill: fill)
            UnsafeMutableRawPointer(fresh).copyMemory(from: pointer, byteCount: capacity * MemoryLayout<Element>.stride)
            HostMemory.deallocate(pointer, count: capacity)
            pointer = fresh
            capacity = count
        }
        return pointer
    }

    public subscript(i: Int) -> Element {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    public var bytes: Int { capacity * MemoryLayout<Element>.stride }
}

public typealias FloatBuffer = Buffer<Float>
public extension Buffer where Element == Float {
    convenience init(_ count: Int = 0) { self.init(count, fill: 0) }
}
public extension Buffer where Element == Int32 {
    convenience init(_ count: Int = 0) { self.init(count, fill: 0) }
}
