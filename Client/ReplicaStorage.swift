public import SatchelProtocol

/// What the client's sync algorithm (`Replica`) needs from storage. The SQLite store is the real
/// one; `MemoryReplicaStorage` drives the deterministic simulation. Every algorithm step runs
/// inside `inTransaction`, so a crash leaves either all of a step or none of it.
public protocol ReplicaStorage {
    var schema: Schema { get }
    /// Runs `body` atomically: on a throw nothing it did remains.
    mutating func inTransaction<T>(_ body: (inout Self) throws -> T) throws -> T

    /// A new mutation id of 128 random bits (PROTOCOL.md §1). The randomness is the storage's, so
    /// the simulation's devices draw theirs from a seed and replay exactly.
    mutating func newMutationID() -> MutationID

    func deviceState() throws -> DeviceState
    mutating func saveDeviceState(_ state: DeviceState) throws

    func record(_ key: RecordKey) throws -> LocalRecord?
    /// The record's confirmed version, nil when the device has no such record.
    func confirmedVersion(of key: RecordKey) throws -> Version?
    /// Stores the record (and updates the search index in the same transaction).
    mutating func saveRecord(_ record: LocalRecord) throws
    /// Every record of a space (for re-bootstrapping it).
    func records(in space: SpaceID) throws -> [LocalRecord]

    /// The entries about one record that are not rejected, oldest first.
    func outbox(for key: RecordKey) throws -> [OutboxEntry]
    /// The sequence numbers of the entries about `key` that are not rejected, oldest first.
    func outboxSeqs(for key: RecordKey) throws -> [Int64]
    /// Makes the record's view its confirmed state, at `version`.
    mutating func confirmView(of key: RecordKey, version: Version) throws
    /// Up to `limit` pending entries with sequence numbers above `after`, oldest first.
    func pendingEntries(after: Int64, limit: Int) throws -> [OutboxEntry]
    /// The same entries as `pendingEntries`, each as its mutation's encoding, with the last
    /// entry's sequence number (`after` when there is none): what a push sends. Stops before the
    /// encodings would pass `maxBytes` in all, but always holds the first entry.
    func pendingEncoded(after: Int64, limit: Int, maxBytes: Int) throws -> (mutations: [[UInt8]], last: Int64)
    func outboxEntry(_ mutation: MutationID) throws -> OutboxEntry?
    /// What acknowledging needs of the entry holding `mutation`.
    func outboxHead(_ mutation: MutationID) throws -> OutboxHead?
    /// Stores a new entry and returns its sequence number.
    mutating func appendOutbox(_ entry: OutboxEntry) throws -> Int64
    /// Replaces the entry with the same `seq` (its mutation may change: a resend gets a new id).
    mutating func updateOutbox(_ entry: OutboxEntry) throws
    /// Marks the entry acknowledged by the server at `version`; its mutation is unchanged.
    /// `asWritten`: the server said the write applied as written (so pulls that leave such
    /// writes out would not bring it back).
    mutating func markAcknowledged(seq: Int64, version: Version, asWritten: Bool) throws
    mutating func removeOutbox(seq: Int64) throws
    /// Entries the server acknowledged that have not come back in a pull yet, oldest first.
    func acknowledgedEntries() throws -> [OutboxEntry]
    /// How many entries of `space` acknowledged as written wait for their change to come back
    /// in a pull (they could not be confirmed at once).
    func asWrittenAcknowledgedCount(in space: SpaceID) throws -> Int
    /// Entries the server rejected, oldest first.
    func rejectedEntries() throws -> [OutboxEntry]
    /// How many entries are not yet acknowledged.
    func pendingCount() throws -> Int

    func cursor(of space: SpaceID) throws -> Version
    mutating func setCursor(_ cursor: Version, of space: SpaceID) throws
    /// While the device pulls `space` from scratch: the horizon the bootstrap began at.
    func bootstrapHorizon(of space: SpaceID) throws -> Version?
    mutating func setBootstrapHorizon(_ horizon: Version?, of space: SpaceID) throws
}

extension ReplicaStorage {
    public func confirmedVersion(of key: RecordKey) throws -> Version? { try record(key)?.confirmedVersion }
    /// Up to `limit` pending entries, oldest first.
    public func pendingEntries(limit: Int) throws -> [OutboxEntry] { try pendingEntries(after: 0, limit: limit) }
    public func outboxSeqs(for key: RecordKey) throws -> [Int64] { try outbox(for: key).map(\.seq) }
    public func pendingEncoded(after: Int64, limit: Int, maxBytes: Int) throws -> (mutations: [[UInt8]], last: Int64) {
        var batch: [[UInt8]] = [], bytes = 0, last = after
        for entry in try pendingEntries(after: after, limit: limit) {
            let encoded = entry.mutation.wireBytes
            if !batch.isEmpty && bytes + encoded.count > maxBytes { break }
            batch.append(encoded)
            bytes += encoded.count
            last = entry.seq
        }
        return (batch, last)
    }
    public func pendingEncoded(after: Int64, limit: Int) throws -> (mutations: [[UInt8]], last: Int64) {
        try pendingEncoded(after: after, limit: limit, maxBytes: .max)
    }
    public func outboxHead(_ mutation: MutationID) throws -> OutboxHead? { try outboxEntry(mutation).map(OutboxHead.init) }
    public mutating func confirmView(of key: RecordKey, version: Version) throws {
        guard var record = try record(key) else { return }
        record.confirmed = record.view
        record.confirmedVersion = version
        try saveRecord(record)
    }
}
