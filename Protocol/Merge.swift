/// What happened to a pushed mutation.
public enum MutationStatus: String, Hashable, Sendable, CaseIterable {
    /// Applied as written: nobody else had changed the record since its base.
    case applied
    /// Others had changed the record since its base, and everything was combined.
    case merged
    /// Applied, but something could not be combined: a conflict record keeps the losing side.
    case conflict
    /// Refused (invalid, forbidden, stale diff); nothing changed. Later mutations still apply.
    case rejected
}

/// The result of merging one mutation into a record.
public struct MergeOutcome: Hashable, Sendable {
    /// The record after the mutation, stamped with the new version.
    public var state: RecordState
    public var status: MutationStatus
    public var conflicts: [Conflict]
    /// False when the mutation changed nothing (e.g. deleting a deleted record, writing the
    /// current value): then no change is appended to the log.
    public var changed: Bool
}

/// The merge rules of protocol version 1 (PROTOCOL.md, "Merge rules"). Pure: the caller looks up
/// the current record and the record as it was at the mutation's base version.
public enum Merge {
    /// Merges `mutation` into `current` (nil if the record does not exist).
    ///
    /// - Parameters:
    ///   - base: the record at `mutation.baseVersion`; nil when that version is older than the
    ///     history kept (or the record did not exist then). Only needed for three-way merges.
    ///   - version: the change-log version the result will have.
    /// - Throws: a `Rejection` when the mutation must be rejected; nothing changes then.
    public static func apply(
        _ m: Mutation, to current: RecordState?, base: RecordState?, schema: Schema, version: Version
    ) throws(Rejection) -> MergeOutcome {
        let collection = try schema.collection(m.key.collection)
        if let current, m.baseVersion > current.version {
            throw Rejection(
                .invalidBaseVersion,
                "mutation is based on version \(m.baseVersion) of \(m.key), but the server only has version \(current.version); sync and edit again")
        }
        switch (m.operation, current) {
        case (.create, nil):
            var state = RecordState(version: version)
            for (name, change) in m.changes {
                guard case .set(let v) = change else {
                    throw Rejection(.invalidDiff, "a create must send full values")
                }
                state.fields[name] = FieldState(value: v, stamp: m.stamp, version: version)
            }
            return MergeOutcome(state: state, status: .applied, conflicts: [], changed: true)
        case (.patch, nil), (.delete, nil):
            throw Rejection(
                .recordNotFound,
                "record \(m.key) does not exist on the server; it may never have been synced or was removed by compaction")
        case (.delete, let current?):
            return delete(m, from: current, version: version)
        case (.create, let current?), (.patch, let current?):
            // A create of an existing id is a patch on a base the device never saw.
            return try patch(m, current: current, base: base, collection: collection, schema: schema, version: version)
        }
    }

    /// Whether the device that sent `m` had seen `field`'s current value: it was there at the
    /// base version, or the device wrote it itself earlier (devices know their own writes, so
    /// several offline edits of one note do not conflict with each other).
    static func hasSeen(_ field: FieldState, _ m: Mutation) -> Bool {
        field.version <= m.baseVersion
            || (field.stamp.device == m.device && !field.merged && field.stamp.clock < m.clock)
    }

    static func hasSeenDeletion(_ state: RecordState, _ m: Mutation) -> Bool {
        guard let stamp = state.deletedStamp else { return true }
        return state.deletedVersion <= m.baseVersion || (stamp.device == m.device && stamp.clock < m.clock)
    }

    static func delete(_ m: Mutation, from current: RecordState, version: Version) -> MergeOutcome {
        if current.deleted {
            return MergeOutcome(state: current, status: .applied, conflicts: [], changed: false)
        }
        if current.fields.values.contains(where: { !hasSeen($0, m) }) {
            // Edits the deleting device never saw win over the delete: the record stays and the
            // delete is kept as a conflict, so the device can confirm it once it has seen them.
            let conflict = Conflict(kind: .deleteRefused, field: nil, kept: .null, winner: .null, keptStamp: m.stamp)
            return MergeOutcome(state: current, status: .conflict, conflicts: [conflict], changed: false)
        }
        var state = current
        state.deleted = true
        state.deletedVersion = version
        state.deletedStamp = m.stamp
        state.version = version
        return MergeOutcome(state: state, status: .applied, conflicts: [], changed: true)
    }

    static func patch(
        _ m: Mutation, current: RecordState, base: RecordState?, collection: CollectionSchema,
        schema: Schema, version: Version
    ) throws(Rejection) -> MergeOutcome {
        var state = current
        var conflicts: [Conflict] = []
        var concurrent = current.fields.values.contains { !hasSeen($0, m) }
        // With base version 0 the device had nothing, so the "base" is the empty record.
        let baseFields: [FieldName: FieldState]? = m.baseVersion == 0 ? [:] : base?.fields

        if current.deleted {
            state.deleted = false
            if m.operation == .create && hasSeenDeletion(current, m) {
                // A create after seeing the delete starts a new record: the tombstone's fields go.
                state.fields = [:]
            } else if !hasSeenDeletion(current, m), let stamp = current.deletedStamp {
                // Edit wins over a concurrent delete: the record comes back, the delete is recorded.
                conflicts.append(Conflict(kind: .editRevived, field: nil, kept: .null, winner: .null, keptStamp: stamp))
            }
            state.deletedVersion = 0
            state.deletedStamp = nil
        }

        for name in m.changes.keys.sorted() {
            let change = m.changes[name]!
            guard let fieldSchema = collection.fields[name] else {
                throw Rejection(.unknownField, "collection '\(collection.name)' has no field '\(name)'")
            }
            let cur = state.fields[name]
            let new: Value
            switch change {
            case .set(let v):
                new = v
            case .textDiff(let diff):
                let baseText: String
                if let cur, cur.version <= m.baseVersion {
                    baseText = cur.value.textValue ?? ""
                } else if let baseFields {
                    baseText = baseFields[name]?.value.textValue ?? ""
                } else {
                    throw Rejection(
                        .baseExpired,
                        "the text diff for \(collection.name).\(name) is based on version \(m.baseVersion), which the server no longer keeps; send the whole text")
                }
                new = .text(try diff.apply(to: baseText))
                try schema.validate(new, for: fieldSchema, in: collection.name)
            case .setDelta(let add, let remove):
                // Deltas commute: applied to the current set, whoever wrote it.
                let merged = applyDelta(to: state.fields[name]?.value ?? .null, add: add, remove: remove)
                try schema.validate(merged, for: fieldSchema, in: collection.name)
                let seen = state.fields[name].map { hasSeen($0, m) } ?? true
                if !seen { concurrent = true }
                state.fields[name] = FieldState(value: merged, stamp: m.stamp, version: version, merged: !seen)
                continue
            }

            guard let cur = state.fields[name], !hasSeen(cur, m) else {
                // Even an unchanged value takes the new stamp: the write happened, and a later
                // concurrent write must be judged against it.
                state.fields[name] = FieldState(value: new, stamp: m.stamp, version: version)
                continue
            }
            concurrent = true
            if cur.value == new { continue }

            // Both sides changed the field since the base.
            let baseValue = baseFields.map { $0[name]?.value ?? .null }
            if let baseValue, let merged = threeWay(base: baseValue, ours: new, theirs: cur.value) {
                state.fields[name] = FieldState(value: merged, stamp: max(cur.stamp, m.stamp), version: version, merged: true)
                continue
            }
            let kind: ConflictKind = baseValue == nil ? .staleBase : (fieldSchema.type.isText ? .text : .field)
            if m.stamp > cur.stamp {
                if fieldSchema.recordsConflicts {
                    conflicts.append(Conflict(kind: kind, field: name, kept: cur.value, winner: new, keptStamp: cur.stamp))
                }
                state.fields[name] = FieldState(value: new, stamp: m.stamp, version: version)
            } else if fieldSchema.recordsConflicts {
                conflicts.append(Conflict(kind: kind, field: name, kept: new, winner: cur.value, keptStamp: m.stamp))
            }
        }

        let changed = state.fields != current.fields || state.deleted != current.deleted
        if changed { state.version = version }
        let status: MutationStatus = !conflicts.isEmpty ? .conflict : (concurrent ? .merged : .applied)
        return MergeOutcome(state: state, status: status, conflicts: conflicts, changed: changed)
    }

    /// Three-way merge of one field when the type allows it: text (non-overlapping edits) and
    /// sets (additions and removals of both sides). Nil when it cannot be combined.
    static func threeWay(base: Value, ours: Value, theirs: Value) -> Value? {
        if case .text(let o) = ours, case .text(let t) = theirs {
            let b: String
            switch base {
            case .text(let s): b = s
            case .null: b = ""
            default: return nil
            }
            return TextMerge.merge(base: b, ours: o, theirs: t).map(Value.text)
        }
        switch (ours, theirs) {
        case (.stringSet(let o), .stringSet(let t)):
            let b: [String]
            switch base {
            case .stringSet(let s): b = s
            case .null: b = []
            default: return nil
            }
            return .set(mergeSets(base: b, ours: o, theirs: t))
        case (.referenceSet(let o), .referenceSet(let t)):
            let b: [Reference]
            switch base {
            case .referenceSet(let s): b = s
            case .null: b = []
            default: return nil
            }
            return .referenceSet(mergeSets(base: b, ours: o, theirs: t))
        default:
            return nil
        }
    }

    /// A set after a `setDelta`: `(current ∪ add) − remove`.
    public static func applyDelta(to current: Value, add: Value, remove: Value) -> Value {
        switch (current, add, remove) {
        case (.referenceSet(let c), .referenceSet(let a), .referenceSet(let r)):
            return .references(Set(c).union(a).subtracting(r))
        case (.stringSet(let c), .stringSet(let a), .stringSet(let r)):
            return .set(Set(c).union(a).subtracting(r))
        case (_, .referenceSet(let a), .referenceSet(let r)):
            return .references(Set(a).subtracting(r))
        case (_, .stringSet(let a), .stringSet(let r)):
            return .set(Set(a).subtracting(r))
        default:
            return current
        }
    }

    /// Elements either side added, minus elements either side removed.
    static func mergeSets<T: Hashable & Comparable>(base: [T], ours: [T], theirs: [T]) -> [T] {
        let b = Set(base), o = Set(ours), t = Set(theirs)
        let removed = b.subtracting(o).union(b.subtracting(t))
        return o.union(t).subtracting(removed).sorted()
    }
}
