public import SatchelProtocol

/// Keeping what a person typed: writes the server would refuse are refused at once, while the
/// text is still on the screen; a deletion can be undone while it has not reached the server;
/// a write the server refused can be moved to a space that takes it.
extension SatchelClient {
    /// Refuses a write to `space` that the server would refuse, when the device knows its spaces
    /// (after a sync): a space it is not a member of, or one it may only read. Before the first
    /// sync nothing is known, and a refusal comes with the sync, kept in `rejected()` in full.
    public func checkWritable(_ space: SpaceID) throws {
        let known = try spaces()
        guard !known.isEmpty else { return }
        let writable = known.filter(\.role.canWrite).map(\.space.rawValue)
        let instead = writable.isEmpty
            ? "this device can write to no space; ask your operator for writer access"
            : "write to \(writable.joined(separator: ", ")) instead (--space)"
        guard let access = known.first(where: { $0.space == space }) else {
            throw ClientError(code: "unknown_space", "this device has no space '\(space)' (as of its last sync); \(instead), or run `satchel sync` if you were just given it")
        }
        guard access.role.canWrite else {
            throw ClientError(code: "read_only_space", "space '\(space)' is read-only for you; \(instead)")
        }
    }

    /// Brings back a deleted note whose deletion has not yet been confirmed by the server: the
    /// note as it was just before the deletion is written again as a create of the same record
    /// (which starts the record afresh on the server, whether or not the deletion got there
    /// first). Once a sync confirmed the deletion the device no longer holds the text.
    public func restoreNote(_ key: RecordKey) throws {
        guard key.collection == .notes else { throw ClientError.notFound("note \(key.record)") }
        guard let record = try storage.record(key) else { throw ClientError.notFound("note \(key.record)") }
        guard record.view == nil else {
            throw ClientError(code: "not_deleted", "note \(key.record) is not deleted; nothing to restore")
        }
        let entries = try storage.outbox(for: key)
        guard let deletion = entries.lastIndex(where: { $0.mutation.operation == .delete }) else {
            throw ClientError(code: "deletion_sent", "the deletion of note \(key.record) was confirmed by the server at a sync, and this device keeps no copy after that; a device that has not synced since may still show it")
        }
        var before = record.confirmed
        for entry in entries[..<deletion] { before = SQLiteReplicaStorage.replay(entry, on: before) }
        guard var values = before else {
            throw ClientError(code: "deletion_sent", "note \(key.record) had no text on this device before its deletion; nothing to restore")
        }
        try checkWritable(key.space)
        values["updatedAt"] = .timestamp(now())
        try storage.write(.create, key, values: values, physicalMillis: now(), maxBytes: try maxWriteBytes())
    }

    /// Writes what a refused change held as a new note in `space`, and forgets the refused change,
    /// in one transaction. A refused edit moves with the note it edited (as this device shows it),
    /// so the new note is whole.
    @discardableResult
    public func moveRejected(_ mutation: MutationID, to space: SpaceID) throws -> RecordKey {
        guard let entry = try storage.outboxEntry(mutation), entry.isRejected else { throw ClientError.notFound("refused change \(mutation)") }
        let source = entry.mutation.key
        guard source.collection == .notes else {
            throw ClientError(code: "not_a_note", "refused change \(mutation) is to \(source.collection), not a note; only notes can be moved (discard it with `satchel rejected discard \(mutation)`)")
        }
        guard entry.mutation.operation != .delete else {
            throw ClientError(code: "not_a_note", "refused change \(mutation) is a deletion; there is nothing to move (discard it with `satchel rejected discard \(mutation)`)")
        }
        try checkWritable(space)
        var values = (try storage.record(source)?.view ?? [:]).merging(entry.writtenValues) { $1 }
        let t = now()
        if values["createdAt"] == nil { values["createdAt"] = .timestamp(t) }
        values["updatedAt"] = .timestamp(t)
        if let user = try storage.metaString("user") { values["author"] = .string(user) }
        guard values["title"] != nil else {
            throw ClientError(code: "not_a_note", "refused change \(mutation) has no title to make a note of; `satchel rejected` shows what it held")
        }
        var rng = SystemRandomNumberGenerator()
        let key = RecordKey(space: space, collection: .notes, record: .random(using: &rng))
        let maxBytes = try maxWriteBytes()
        try storage.inTransaction { s in
            try s.write(.create, key, values: values, physicalMillis: t, maxBytes: maxBytes)
            try s.removeOutbox(seq: entry.seq)
            try s.rebuildView(source)
        }
        return key
    }
}
