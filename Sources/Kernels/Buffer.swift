// A growable scratch buffer of plain values: allocated once, reused every
// step, grown only when a batch is bigger than any before it.

public final class Buffer<Element>: @unchecked Sendable {
    public private(set) var pointer: UnsafeMutablePointer<Element>
    public private(set) var capacity: Int
    private let fill: Element

    public init(_ count: Int = 0, fill: Element) {
        self.fill = fill
        capacity = max(1, count)
        pointer = .allocate(capacity: capacity)
        pointer.initialize(repeating: fill, count: capacity)
    }

    deinit { pointer.deallocate() }

    /// At least `count` elements; returns the (possibly new) pointer. Contents
    /// are kept only up to the old capacity.
    @discardableResult
    public func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            let fresh = UnsafeMutablePointer<Element>.allocate(capacity: count)
            fresh.initialize(repeating: fill, count: count)
            fresh.update(from: pointer, count: capacity)
            pointer.deallocate()
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
