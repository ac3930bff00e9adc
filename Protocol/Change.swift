/// Whether a change leaves the record present or deleted.
public enum ChangeKind: String, Hashable, Sendable {
    case upsert, delete
}

/// One entry of the server's change log, as devices pull it: the fields that changed, with
/// their new values (long text as a diff against `previousVersion` when that is smaller).
public struct Change: Hashable, Sendable {
    /// Its position in the log; the record's version after it.
    public var version: Version
    /// The record's version before it (0 when the record is new to the log).
    public var previousVersion: Version
    public var key: RecordKey
    public var kind: ChangeKind
    /// For an upsert: the fields whose values changed (all fields when `previousVersion` is 0
    /// or the record was revived). Empty for a delete.
    public var fields: [FieldName: FieldChange]
    /// The latest clock among the writes it carries; devices observe it with their own clock.
    public var clock: HLC
    /// The mutation that caused it, if a device's mutation did.
    public var mutation: MutationID?

    public init(
        version: Version, previousVersion: Version, key: RecordKey, kind: ChangeKind,
        fields: [FieldName: FieldChange], clock: HLC, mutation: MutationID?
    ) {
        self.version = version
        self.previousVersion = previousVersion
        self.key = key
        self.kind = kind
        self.fields = fields
        self.clock = clock
        self.mutation = mutation
    }

    /// The change that takes a record from `old` to `new`.
    public init(key: RecordKey, from old: RecordState?, to new: RecordState, mutation: MutationID?) {
        let revived = old?.deleted == true && !new.deleted
        var fields: [FieldName: FieldChange] = [:]
        if !new.deleted {
            for (name, field) in new.fields {
                let before = revived ? nil : old?.fields[name]?.value
                guard before != field.value else { continue }
                if case .text(let text) = field.value, let prior = before?.textValue {
                    fields[name] = .text(from: prior, to: text)
                } else {
                    fields[name] = .set(field.value)
                }
            }
        }
        self.init(
            version: new.version, previousVersion: old?.version ?? 0, key: key,
            kind: new.deleted ? .delete : .upsert, fields: fields, clock: new.latestClock, mutation: mutation)
    }

    /// Applies the change to the values a device holds for the record (nil if it has none):
    /// the record's values after the change, or nil when it is deleted.
    public func apply(to values: [FieldName: Value]?) throws(Rejection) -> [FieldName: Value]? {
        guard kind == .upsert else { return nil }
        var out = values ?? [:]
        for (name, change) in fields {
            switch change {
            case .set(let v): out[name] = v
            case .textDiff(let d): out[name] = .text(try d.apply(to: out[name]?.textValue ?? ""))
            case .setDelta(let add, let remove): out[name] = Merge.applyDelta(to: out[name] ?? .null, add: add, remove: remove)
            }
        }
        return out
    }
}
