import SatchelProtocol

/// The property tests' generator: SplitMix64, so any run replays exactly from its seed.
typealias SeededRandom = SplitMix64

extension SplitMix64 {
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
}
