// Token ids and per-token log-probs are stored as compact blobs: little-endian
// int32 and float32, 4 bytes a token (a JSON array would take 3 to 12). The
// writer binds the arrays' bytes as they are (RowInserter); these read them
// back. In the sqlite3 shell, `length(token_ids) / 4` is the token count.

import Foundation

public enum Blob {
    /// nil when the blob's length is not a multiple of 4 (not written by us).
    public static func decodeInt32(_ data: Data) -> [Int32]? {
        guard data.count % 4 == 0 else { return nil }
        return data.withUnsafeBytes { raw in
            (0..<data.count / 4).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
        }
    }

    public static func decodeFloat(_ data: Data) -> [Float]? {
        decodeInt32(data)?.map { Float(bitPattern: UInt32(bitPattern: $0)) }
    }
}
