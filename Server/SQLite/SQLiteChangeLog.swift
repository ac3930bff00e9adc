import SatchelProtocol
public import SatchelServerCore
public import SatchelSQLite

/// The change log over the server's SQLite database: reads and writes for the shared algorithm,
/// run as plan and apply (`ChangeLogBackend`). Used only inside a transaction of
/// `SQLiteServerStore`, on its connection, whose `BEGIN IMMEDIATE` is the version lock.
struct SQLiteChangeLog: ChangeLogReading, ChangeLogBackend {
    let db: Database
    let schema: Schema
    /// When the changes appended now are written (ms), kept for retention.
    let now: Timestamp
    private var head: Version

    init(db: Database, schema: Schema, now: Timestamp = 0) throws {
        self.db = db
        self.schema = schema
        self.now = now
        head = try Self.globalHead(db)
    }

    /// The last version handed out in any space. Compaction may delete the newest change rows,
    /// but it raises the space's horizon to them, so the horizon remembers the version.
    static func globalHead(_ db: Database) throws -> Version {
        try db.query("SELECT max((SELECT coalesce(max(version), 0) FROM changes), (SELECT coalesce(max(horizon), 0) FROM spaces))") { $0.int64(at: 0) }.first ?? 0
    }

    func currentHead() -> Version { head }

    func result(of mutation: MutationID) throws -> (device: DeviceID, result: MutationResult)? {
        try db.query("SELECT result, as_written, device FROM mutations WHERE id = ?", mutation.rawValue) {
            var result = try MutationResult(wireBytes: $0.blob(at: 0))
            result.asWritten = $0.bool(at: 1)
            return (device: DeviceID(unchecked: $0.string(at: 2)), result: result)
        }.first
    }

    func record(_ key: RecordKey) throws -> RecordState? {
        try db.query(
            "SELECT state FROM records WHERE space = ? AND collection = ? AND record = ?",
            key.space.rawValue, key.collection.rawValue, key.record.rawValue
        ) { try RecordState(wireBytes: $0.blob(at: 0)) }.first
    }

    func base(of key: RecordKey, at version: Version) throws -> RecordState? {
        guard version > 0 else { return nil }
        let horizon = try db.query("SELECT horizon FROM spaces WHERE id = ?", key.space.rawValue) { $0.int64(at: 0) }.first ?? 0
        guard version >= horizon else { return nil }
        if let current = try record(key), current.version <= version { return current }
        return try db.query(
            """
            SELECT state FROM record_history WHERE space = ? AND collection = ? AND record = ? AND version <= ?
            ORDER BY version DESC LIMIT 1
            """,
            key.space.rawValue, key.collection.rawValue, key.record.rawValue, version
        ) { try RecordState(wireBytes: $0.blob(at: 0)) }.first
    }

    func mutation(counter: UInt64, of device: DeviceID) throws -> MutationID? {
        try db.query("SELECT id FROM mutations WHERE device = ? AND counter = ?", device.rawValue, Int64(bitPattern: counter)) {
            MutationID(unchecked: $0.string(at: 0))
        }.first
    }

    /// Writes a planned push; a throw leaves it half-written, for the caller's savepoint to
    /// roll back. Records are written once each, in their state after the push.
    mutating func write(_ writes: LogWriteSet) throws {
        precondition(writes.changes.first.map { $0.change.version == head + 1 } ?? true, "changes must be appended in version order")
        for appended in writes.changes {
            let change = appended.change
            try db.run("INSERT INTO changes (version, space, data, at, own_device) VALUES (?, ?, ?, ?, ?)",
                       change.version, change.key.space.rawValue, change.wireBytes, now, appended.asWrittenBy?.rawValue)
        }
        for old in writes.history {
            try db.run(
                "INSERT OR REPLACE INTO record_history (space, collection, record, version, state) VALUES (?, ?, ?, ?, ?)",
                old.key.space.rawValue, old.key.collection.rawValue, old.key.record.rawValue, old.state.version, old.state.wireBytes)
        }
        for new in writes.records {
            try db.run(
                "INSERT OR REPLACE INTO records (space, collection, record, version, state) VALUES (?, ?, ?, ?, ?)",
                new.key.space.rawValue, new.key.collection.rawValue, new.key.record.rawValue, new.state.version, new.state.wireBytes)
        }
        for saved in writes.results {
            let (mutation, result) = (saved.mutation, saved.result)
            try db.run(
                "INSERT INTO mutations (id, device, space, result, as_written, counter, clock) VALUES (?, ?, ?, ?, ?, ?, ?)",
                mutation.id.rawValue, mutation.device.rawValue, mutation.key.space.rawValue, result.wireBytes, result.asWritten,
                saved.counted ? Int64(bitPattern: mutation.counter) : nil, saved.counted ? Int64(bitPattern: mutation.clock.rawValue) : nil)
        }
        head = writes.head
    }

    /// What the store holds of a device's writes: its highest counter and that write's clock.
    static func writeState(of device: DeviceID, _ db: Database) throws -> DeviceWriteState? {
        try db.query(
            "SELECT counter, clock, id FROM mutations WHERE device = ? AND counter IS NOT NULL ORDER BY counter DESC LIMIT 1", device.rawValue
        ) {
            DeviceWriteState(counter: UInt64(bitPattern: $0.int64(at: 0)), clock: HLC(rawValue: UInt64(bitPattern: $0.int64(at: 1))), mutation: MutationID(unchecked: $0.string(at: 2)))
        }.first
    }
}
