// The bearer token check. Both sides are hashed to 32 bytes first and compared
// without an early exit, so the time taken says nothing of how much of a
// guess was right, nor of the token's length.

import Foundation
import Support

public struct BearerToken: Sendable {
    private let digest: [UInt8]

    public init(_ token: String) { digest = BearerToken.hash(token) }

    /// Whether `candidate` is the token, in time independent of where they differ.
    public func matches(_ candidate: String) -> Bool {
        let other = BearerToken.hash(candidate)
        var difference: UInt8 = 0
        for i in 0..<digest.count { difference |= digest[i] ^ other[i] }
        return difference == 0
    }

    /// The token a request carries: `Authorization: Bearer T`, else the `token` query parameter.
    public static func presented(authorization: String?, query: String?) -> String? {
        if let authorization, authorization.lowercased().hasPrefix("bearer ") {
            return String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        return query
    }

    private static func hash(_ s: String) -> [UInt8] {
        let hex = Array(SHA256.hex(s.utf8).utf8)
        return hex.count == 64 ? hex : Array(repeating: 0, count: 64)
    }
}
