
/// The new content of one field: a whole value, or for text an edit script against the base.
public enum FieldChange: Hashable, Sendable {
    case set(Value)
    case textDiff(TextDiff)
    /// For a set field: elements to add and to remove (both `.stringSet` or both
    /// `.referenceSet`). Applied to whatever the set holds when it arrives, so concurrent
    /// additions and removals all survive without needing a base.
    case setDelta(add: Value, remove: Value)

    /// The change that turns set `old` into set `new`: a delta when both are sets of one kind.
    public static func set(from old: Value?, to new: Value) -> FieldChange {
        switch (old, new) {
        case (.stringSet(let o)?, .stringSet(let n)):
            return .setDelta(add: .set(Set(n).subtracting(o)), remove: .set(Set(o).subtracting(n)))
        case (.referenceSet(let o)?, .referenceSet(let n)):
            return .setDelta(add: .references(Set(n).subtracting(o)), remove: .references(Set(o).subtracting(n)))
        default:
            return .set(new)
        }
    }

    /// The cheaper way to send `new` when the receiver holds `base`: a diff when its encoding
    /// is smaller than the whole text, otherwise the whole value.
    public static func text(from base: String?, to new: String) -> FieldChange {
        guard let base, new.utf8.count > 64 else { return .set(.text(new)) }
        let diff = TextDiff(from: base, to: new)
        return diff.encodedSize < new.utf8.count ? .textDiff(diff) : .set(.text(new))
    }
}

/// One local write, as a device sends it. Identified by a unique `id`, so a push repeated after
/// a timeout is applied once.
public struct Mutation: Hashable, Sendable {
    /// What a mutation does to its record. (Nested: Foundation has its own `Operation`.)
    public enum Operation: String, Hashable, Sendable, CaseIterable {
        case create, patch, delete
    }

    /// Unique id, chosen by the device.
    public var id: MutationID
    /// The device that wrote it.
    public var device: DeviceID
    /// The device's own sequence number for its mutations, starting at 1.
    public var counter: UInt64
    /// The device's hybrid logical clock when it was written.
    public var clock: HLC
    /// The record it changes.
    public var key: RecordKey
    /// The record version the device had when it wrote this (0 for a create).
    public var baseVersion: Version
    public var operation: Operation
    /// The fields it sets (empty for a delete).
    public var changes: [FieldName: FieldChange]

    public init(
        id: MutationID, device: DeviceID, counter: UInt64, clock: HLC, key: RecordKey,
        baseVersion: Version, operation: Operation, changes: [FieldName: FieldChange] = [:]
    ) {
        self.id = id
        self.device = device
        self.counter = counter
        self.clock = clock
        self.key = key
        self.baseVersion = baseVersion
        self.operation = operation
        self.changes = changes
    }

    /// The stamp every field it writes will carry.
    public var stamp: Stamp { Stamp(clock: clock, device: device) }
}

