/// SplitMix64: a tiny, fast generator whose whole state is one 64-bit word, so anything drawn
/// from it (a simulation run, benchmark data, property tests) is a pure function of its seed and
/// replays exactly. Not for secrets: tokens and codes use the system generator. It lives here,
/// not in a shipped library, because nothing shipped needs a replayable generator: callers of
/// the libraries pass their own `RandomNumberGenerator` in.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// The draws the simulation, benchmarks and tests make, so each is written once.
extension SplitMix64 {
    /// True with probability `p`. `p <= 0` draws nothing, so a disabled fault leaves the rest of
    /// a seeded run exactly as it was.
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
