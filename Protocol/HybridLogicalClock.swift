/// A hybrid logical clock reading: wall-clock milliseconds plus a counter that orders events
/// within one millisecond. On the wire it is one 64-bit number, `millis << 16 | counter`, so
/// readings compare as integers.
public struct HLC: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public init(millis: Int64, counter: UInt16) {
        precondition(millis >= 0 && millis < (1 << 47), "HLC milliseconds out of range")
        rawValue = UInt64(millis) << 16 | UInt64(counter)
    }

    public static let zero = HLC(rawValue: 0)
    public var millis: Int64 { Int64(rawValue >> 16) }
    public var counter: UInt16 { UInt16(truncatingIfNeeded: rawValue) }
    public var description: String { "\(millis).\(counter)" }
    public static func < (a: HLC, b: HLC) -> Bool { a.rawValue < b.rawValue }
}

/// A device's or server's hybrid logical clock. Readings never go backwards, stay close to
/// physical time, and move past every remote reading observed, so an edit made after seeing
/// another always carries a later clock. Physical time is passed in by the caller.
public struct HybridLogicalClock: Sendable {
    /// The last reading handed out or observed.
    public private(set) var last: HLC
    /// How far ahead of our physical time a remote reading may be before it is refused.
    public let maxSkewMillis: Int64

    public init(last: HLC = .zero, maxSkewMillis: Int64 = 5 * 60 * 1000) {
        self.last = last
        self.maxSkewMillis = maxSkewMillis
    }

    /// A new reading for a local event at `physicalMillis`.
    public mutating func now(physicalMillis: Int64) -> HLC {
        last = Self.advance(last, to: physicalMillis)
        return last
    }

    /// Merges a remote reading (e.g. from a pulled change or a pushed mutation) and returns a
    /// reading later than both. Throws `clock_too_far_ahead` without changing the clock when the
    /// remote reading is more than `maxSkewMillis` ahead of `physicalMillis`.
    @discardableResult
    public mutating func observe(_ remote: HLC, physicalMillis: Int64) throws(Rejection) -> HLC {
        try checkSkew(remote, physicalMillis: physicalMillis)
        let base = max(last, remote)
        last = Self.advance(base, to: physicalMillis)
        return last
    }

    /// Throws `clock_too_far_ahead` when `remote` is further ahead of `physicalMillis` than allowed.
    public func checkSkew(_ remote: HLC, physicalMillis: Int64) throws(Rejection) {
        let ahead = remote.millis - physicalMillis
        guard ahead <= maxSkewMillis else {
            throw Rejection(
                .clockTooFarAhead,
                "the device clock is \(Self.describe(millis: ahead)) ahead of the server (at most \(Self.describe(millis: maxSkewMillis)) allowed); set the device's date and time correctly, then sync again")
        }
    }

    /// The smallest reading after `previous` that is not behind `physicalMillis`.
    static func advance(_ previous: HLC, to physicalMillis: Int64) -> HLC {
        let physical = max(0, min(physicalMillis, (1 << 47) - 1))
        if physical > previous.millis { return HLC(millis: physical, counter: 0) }
        if previous.counter == .max { return HLC(millis: previous.millis + 1, counter: 0) }
        return HLC(millis: previous.millis, counter: previous.counter + 1)
    }

    static func describe(millis: Int64) -> String {
        let seconds = millis / 1000
        if seconds < 120 { return "\(seconds) s" }
        if seconds < 7200 { return "\(seconds / 60) min" }
        if seconds < 172_800 { return "\(seconds / 3600) h" }
        return "\(seconds / 86400) days"
    }
}

/// Who wrote a field and when: the writer's clock, ties broken by device id. Later stamps win.
public struct Stamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var clock: HLC
    public var device: DeviceID

    public init(clock: HLC, device: DeviceID) {
        self.clock = clock
        self.device = device
    }

    public var description: String { "\(clock)@\(device)" }
    public static func < (a: Stamp, b: Stamp) -> Bool { (a.clock, a.device) < (b.clock, b.device) }
}
