// The element types a safetensors tensor may be stored in here. Checkpoints
// are float32 (the trainer's master weights); exports may be bfloat16, and
// imports read bfloat16 and float16 too, widening to float32 (exactly: both
// are subsets of float32).

public enum SafetensorsDType: String, Sendable, CaseIterable {
    case f32 = "F32", bf16 = "BF16", f16 = "F16"

    /// Bytes per element.
    public var width: Int { self == .f32 ? 4 : 2 }

    /// `count` floats stored as this type, little-endian. Float32 to bfloat16 rounds to
    /// nearest, ties to even (as PyTorch's conversion does); NaN stays NaN.
    public func encode(_ values: UnsafePointer<Float>, count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count * width)
        out.withUnsafeMutableBytes { raw in
            switch self {
            case .f32:
                raw.copyMemory(from: UnsafeRawBufferPointer(start: values, count: count * 4))
            case .bf16:
                let dst = raw.bindMemory(to: UInt16.self)
                for i in 0..<count {
                    let bits = values[i].bitPattern
                    if values[i].isNaN {
                        dst[i] = UInt16(bits >> 16) | 0x40
                        continue
                    }
                    let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
                    dst[i] = UInt16(rounded >> 16).littleEndian
                }
            case .f16:
                let dst = raw.bindMemory(to: UInt16.self)
                for i in 0..<count { dst[i] = Float16(values[i]).bitPattern.littleEndian }
            }
        }
        return out
    }

    /// Widens `count` stored elements at `raw` (any alignment) to float32.
    public func decode(_ raw: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
        switch self {
        case .f32:
            UnsafeMutableRawPointer(destination).copyMemory(from: raw, byteCount: count * 4)
        case .bf16:
            for i in 0..<count {
                let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                destination[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        case .f16:
            for i in 0..<count {
                let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                destination[i] = Float(Float16(bitPattern: bits))
            }
        }
    }
}
