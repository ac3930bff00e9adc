/// FNV-1a over everything a run sends and decides, so two runs of one seed can be compared with
/// one number besides their counters.
struct Digest: Hashable, Sendable {
    private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    mutating func mix(_ bytes: [UInt8]) {
        for b in bytes {
            value ^= UInt64(b)
            value &*= 0x0000_0100_0000_01B3
        }
    }

    mutating func mix(_ n: Int64) {
        var v = UInt64(bitPattern: n)
        for _ in 0..<8 {
            value ^= v & 0xFF
            value &*= 0x0000_0100_0000_01B3
            v >>= 8
        }
    }
}
