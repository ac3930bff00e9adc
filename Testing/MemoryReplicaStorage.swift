public import SatchelClient
public import SatchelProtocol

/// Replica storage in memory: what the deterministic simulation runs thousands of devices on.
/// A transaction works on a copy and keeps it only if the body returns, like a database would.
public struct MemoryReplicaStorage: ReplicaStorage, Sendable {
    public let schema: Schema
    var device: DeviceState
    var records: [RecordKey: LocalRecord] = [:]
    var entries: [Int64: OutboxEntry] = [:]
    var nextSeq: Int64 = 1
    var cursors: [SpaceID: Version] = [:]
    var bootstraps: [SpaceID: Version] = [:]
    /// Entries acknowledged as written.
    var asWritten: Set<Int64> = []

    /// Where mutation ids come from: seeded by the device id, so a simulation replays exactly.
    var ids: SplitMix64

    /// `idSeed`: where mutation ids start (by default from the device id, FNV-1a); two copies of
    /// one device's store on two machines draw different ids.
    public init(device: DeviceID, schema: Schema = .standard, idSeed: UInt64? = nil) {
        self.schema = schema
        self.device = DeviceState(device: device)
        ids = SplitMix64(seed: idSeed ?? device.rawValue.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 })
    }

    public mutating func newMutationID() -> MutationID { .random(using: &ids) }

    /// Puts the data back to `backup`, as restoring a disk would: the stored state returns, the
    /// randomness does not (new ids must not repeat the ones drawn since).
    public mutating func restore(from backup: MemoryReplicaStorage) {
        let ids = self.ids
        self = backup
        self.ids = ids
    }

    public mutating func inTransaction<T>(_ body: (inout MemoryReplicaStorage) throws -> T) throws -> T {
        var copy = self
        let result = try body(&copy)
        self = copy
        return result
    }

    public func deviceState() -> DeviceState { device }
    public mutating func saveDeviceState(_ state: DeviceState) { device = state }
    public func record(_ key: RecordKey) -> LocalRecord? { records[key] }
    public mutating func saveRecord(_ record: LocalRecord) { records[record.key] = record }
    public func records(in space: SpaceID) -> [LocalRecord] {
        records.values.filter { $0.key.space == space }.sorted { $0.key < $1.key }
    }

    private var ordered: [OutboxEntry] { entries.values.sorted { $0.seq < $1.seq } }

    public func outbox(for key: RecordKey) -> [OutboxEntry] {
        ordered.filter { $0.mutation.key == key && !$0.isRejected }
    }

    public func pendingEntries(limit: Int) -> [OutboxEntry] { pendingEntries(after: 0, limit: limit) }
    public func pendingEntries(after: Int64, limit: Int) -> [OutboxEntry] {
        Array(ordered.filter { $0.state == .pending && $0.seq > after }.prefix(limit))
    }

    public func outboxEntry(_ mutation: MutationID) -> OutboxEntry? {
        entries.values.first { $0.mutation.id == mutation }
    }

    public mutating func appendOutbox(_ entry: OutboxEntry) -> Int64 {
        var e = entry
        e.seq = nextSeq
        nextSeq += 1
        entries[e.seq] = e
        return e.seq
    }

    public mutating func updateOutbox(_ entry: OutboxEntry) { entries[entry.seq] = entry }
    public mutating func removeOutbox(seq: Int64) { entries[seq] = nil }
    public mutating func markAcknowledged(seq: Int64, version: Version, asWritten flag: Bool) {
        entries[seq]?.state = .acknowledged(version: version)
        if flag { asWritten.insert(seq) } else { asWritten.remove(seq) }
    }
    public func asWrittenAcknowledgedCount(in space: SpaceID) -> Int {
        asWritten.filter { seq in
            guard let e = entries[seq], case .acknowledged = e.state else { return false }
            return e.mutation.key.space == space
        }.count
    }
    public func rejectedEntries() -> [OutboxEntry] { ordered.filter(\.isRejected) }
    public func acknowledgedEntries() -> [OutboxEntry] {
        ordered.filter { if case .acknowledged = $0.state { true } else { false } }
    }
    public func pendingCount() -> Int { entries.values.filter { !$0.isRejected && $0.state == .pending }.count }
    public func cursor(of space: SpaceID) -> Version { cursors[space] ?? 0 }
    public mutating func setCursor(_ cursor: Version, of space: SpaceID) { cursors[space] = cursor }
    public func bootstrapHorizon(of space: SpaceID) -> Version? { bootstraps[space] }
    public mutating func setBootstrapHorizon(_ horizon: Version?, of space: SpaceID) { bootstraps[space] = horizon }

    /// Every record the user can see, with its view.
    public var visibleRecords: [RecordKey: [FieldName: Value]] { records.compactMapValues(\.view) }
    /// Every record's confirmed values.
    public var confirmedRecords: [RecordKey: [FieldName: Value]] { records.compactMapValues(\.confirmed) }
}
