public import SatchelProtocol

/// The simulation's generator: SplitMix64 (one word of state), so a run is a pure function of
/// its seed and any failure replays exactly.
public typealias SeededGenerator = SplitMix64

extension SplitMix64 {
    /// True with probability `p`.
    public mutating func chance(_ p: Double) -> Bool {
        p > 0 && Double.random(in: 0..<1, using: &self) < p
    }

    public mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    public mutating func millis(_ range: ClosedRange<Int64>) -> Int64 { Int64.random(in: range, using: &self) }

    /// A random element of a non-empty array (the caller sorts anything that came from a
    /// dictionary or set first: their order differs between runs).
    public mutating func pick<T>(_ elements: [T]) -> T {
        precondition(!elements.isEmpty, "pick from an empty array")
        return elements[int(0...elements.count - 1)]
    }
}

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
