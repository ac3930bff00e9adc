/// SplitMix64: a tiny, fast generator whose whole state is one 64-bit word, so a simulation run
/// is a pure function of its seed and any failure replays exactly.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

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
