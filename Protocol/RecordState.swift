/// One field of a stored record, with what the merge rules need to know about its last write.
public struct FieldState: Hashable, Sendable {
    public var value: Value
    /// Who last wrote it and when: decides last-writer-wins.
    public var stamp: Stamp
    /// The change-log version that last changed it: a mutation based on this version or later has seen it.
    public var version: Version
    /// True when the value combines several writers' edits (a three-way merge), so no single
    /// device's later write can be assumed to include it.
    public var merged: Bool

    public init(value: Value, stamp: Stamp, version: Version, merged: Bool = false) {
        self.value = value
        self.stamp = stamp
        self.version = version
        self.merged = merged
    }
}

/// A record as the server holds it at some version. Deleted records stay as tombstones that keep
/// their fields, so a concurrent edit can revive them, until compaction drops them.
public struct RecordState: Hashable, Sendable {
    public var fields: [FieldName: FieldState]
    public var deleted: Bool
    /// The version that deleted it, when `deleted` (0 otherwise).
    public var deletedVersion: Version
    /// Who deleted it and when, when `deleted`.
    public var deletedStamp: Stamp?
    /// The version of the change that produced this state.
    public var version: Version

    public init(fields: [FieldName: FieldState] = [:], deleted: Bool = false, version: Version = 0) {
        self.fields = fields
        self.deleted = deleted
        self.deletedVersion = 0
        self.deletedStamp = nil
        self.version = version
    }

    /// The plain values, as a client shows them.
    public var values: [FieldName: Value] { fields.mapValues(\.value) }

    /// The latest clock of any write in this state.
    public var latestClock: HLC {
        fields.values.map(\.stamp.clock).max().map { max($0, deletedStamp?.clock ?? .zero) } ?? deletedStamp?.clock ?? .zero
    }
}
