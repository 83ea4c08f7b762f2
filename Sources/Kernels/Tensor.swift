// A minimal tensor: contiguous Float32 storage with a shape, owned by a class
// so that buffers are never copied on write. Layers work on the raw pointer;
// the shape is for checks, views and tests.

import Support

public final class Tensor: @unchecked Sendable {
    public private(set) var shape: [Int]
    public private(set) var capacity: Int
    public private(set) var data: UnsafeMutablePointer<Float>
    public var count: Int { shape.reduce(1, *) }

    public init(_ shape: [Int]) {
        self.shape = shape
        capacity = max(1, shape.reduce(1, *))
        data = HostMemory.allocate(Float.self, count: capacity)
    }

    public convenience init(_ shape: [Int], _ values: [Float]) {
        self.init(shape)
        precondition(values.count == count, "Tensor: \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    deinit { HostMemory.deallocate(data, count: capacity) }

    /// Reshapes in place, growing the storage if needed. Contents are undefined after growth.
    public func resize(_ newShape: [Int]) {
        let n = max(1, newShape.reduce(1, *))
        if n > capacity {
            HostMemory.deallocate(data, count: capacity)
            data = HostMemory.allocate(Float.self, count: n)
            capacity = n
        }
        shape = newShape
    }

    public func zero() { data.update(repeating: 0, count: count) }

    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }

    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }
}
