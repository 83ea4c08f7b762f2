// Vectorised elementwise maths for the hot loops. Float reductions written as
// plain loops stay sequential (reassociation would change the rounding), so
// dot products use 16-lane SIMD accumulators; everything that needs exp is in
// CKernels (C that clang vectorises). Every kernel that needs exp, a sum or a
// dot product over a row uses these, so forward, backward, sampler and trainer
// agree bit for bit on the same inputs.

import CKernels

public typealias Lanes = SIMD16<Float>

/// exp(x) (see ckernels.c: one polynomial everywhere, relative error < 2e-7,
/// inputs clamped to [-87.3, 88.3]).
@inlinable @inline(__always)
public func exp(_ x: Float) -> Float { ck_exp(x) }

@inlinable @inline(__always)
public func sigmoid(_ x: Float) -> Float { 1 / (1 + ck_exp(-x)) }

public enum Vector {
    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> Lanes {
        UnsafeRawPointer(p).loadUnaligned(as: Lanes.self)
    }

    @inlinable @inline(__always)
    public static func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self)
    }

    /// Sum of a[i] * b[i].
    @inlinable @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = Lanes()
        var i = 0
        while i + 16 <= n {
            acc += load(a + i) * load(b + i)
            i += 16
        }
        var s = acc.sum()
        while i < n {
            s += a[i] * b[i]
            i += 1
        }
        return s
    }

    /// Sum of a[i] * b[i] * c[i].
    @inlinable @inline(__always)
    public static func dot(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>, _ n: Int
    ) -> Float {
        var acc = Lanes()
        var i = 0
        while i + 16 <= n {
            acc += load(a + i) * load(b + i) * load(c + i)
            i += 16
        }
        var s = acc.sum()
        while i < n {
            s += a[i] * b[i] * c[i]
            i += 1
        }
        return s
    }

    @inlinable @inline(__always)
    public static func max(_ a: UnsafePointer<Float>, _ n: Int) -> Float { ck_max(a, n) }

    /// a[i] = exp(a[i] * scale - shift); returns the sum of the results.
    @inlinable @inline(__always)
    public static func expShifted(_ a: UnsafeMutablePointer<Float>, _ n: Int, scale: Float = 1, shift: Float) -> Float {
        ck_exp_shifted(a, n, scale, shift)
    }

    /// Sum of exp(a[i] * scale - shift) and of exp(.) * (a[i] * scale - shift), without writing.
    @inlinable @inline(__always)
    public static func sumExp(
        _ a: UnsafePointer<Float>, _ n: Int, scale: Float, shift: Float
    ) -> (sum: Float, weighted: Float) {
        var w: Float = 0
        let s = ck_sum_exp(a, n, scale, shift, &w)
        return (s, w)
    }

    /// a[i] *= s
    @inlinable @inline(__always)
    public static func scale(_ a: UnsafeMutablePointer<Float>, _ n: Int, by s: Float) {
        var i = 0
        while i + 16 <= n {
            store(load(a + i) * s, a + i)
            i += 16
        }
        while i < n {
            a[i] *= s
            i += 1
        }
    }

    /// y[i] += s * x[i]
    @inlinable @inline(__always)
    public static func axpy(_ s: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n {
            store(load(y + i) + s * load(x + i), y + i)
            i += 16
        }
        while i < n {
            y[i] += s * x[i]
            i += 1
        }
    }
}
