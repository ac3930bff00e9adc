public import SatchelProtocol
import SatchelSQLite

/// The device's local store: one SQLite file (WAL) with the records (confirmed and viewed), the
/// outbox, cursors, the device's identity and credentials, and the full-text search index kept in
/// the same transactions as the records it indexes.
public struct SQLiteReplicaStorage: ReplicaStorage {
    public let schema: Schema
    let db: Database
    /// Checkpoints beside the device's writes rather than inside them (a push's acknowledgement).
    let checkpointer: Checkpointer

    static let migrator = Migrator([
        Migration(version: 1, name: "initial", sql: """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
            CREATE TABLE records (
                id INTEGER PRIMARY KEY,
                space TEXT NOT NULL, collection TEXT NOT NULL, record TEXT NOT NULL,
                confirmed_version INTEGER NOT NULL,
                confirmed BLOB,
                view BLOB,
                UNIQUE (space, collection, record)
            );
            CREATE TABLE outbox (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                mutation_id TEXT NOT NULL UNIQUE,
                space TEXT NOT NULL, collection TEXT NOT NULL, record TEXT NOT NULL,
                mutation BLOB NOT NULL,
                texts BLOB NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('pending', 'acknowledged', 'rejected')),
                version INTEGER NOT NULL DEFAULT 0,
                reason_code TEXT,
                reason_message TEXT
            );
            CREATE INDEX outbox_record ON outbox(space, collection, record, seq);
            CREATE INDEX outbox_state ON outbox(state, seq);
            CREATE TABLE cursors (space TEXT PRIMARY KEY, cursor INTEGER NOT NULL) WITHOUT ROWID;
            -- Search over what the user sees. rowid = records.id, so updates touch one row.
            CREATE VIRTUAL TABLE search USING fts5(
                title, body, extra,
                space UNINDEXED, collection UNINDEXED, record UNINDEXED, tags UNINDEXED,
                tokenize = 'unicode61 remove_diacritics 2'
            );
            """),
        Migration(version: 2, name: "bootstrap in progress", sql: """
            -- The horizon a bootstrap (snapshot pull) began at, while one is in progress.
            ALTER TABLE cursors ADD COLUMN bootstrap INTEGER;
            """),
        Migration(version: 3, name: "reference entries apart in the search index", sql: """
            -- Entries take negative rowids (SearchIndex.rowid(of:)), notes keep records.id.
            INSERT INTO search (rowid, title, body, extra, space, collection, record, tags)
                SELECT -rowid, title, body, extra, space, collection, record, tags FROM search WHERE collection = 'entries' AND rowid > 0;
            DELETE FROM search WHERE collection = 'entries' AND rowid > 0;
            """),
        Migration(version: 4, name: "writes acknowledged as written", sql: """
            ALTER TABLE outbox ADD COLUMN as_written INTEGER NOT NULL DEFAULT 0;
            -- Writes acknowledged before this version may have been as written on an upgraded
            -- server: count them so, and pulls bring everything back until they are confirmed.
            UPDATE outbox SET as_written = 1 WHERE state = 'acknowledged';
            """),
        Migration(version: 5, name: "confirmed state kept once when it is the view", sql: """
            -- Most records show what the server confirmed: then `confirmed` is NULL and this is 1,
            -- rather than the same ~1.5 KB twice in the row.
            ALTER TABLE records ADD COLUMN confirmed_is_view INTEGER NOT NULL DEFAULT 0;
            """),
        Migration(version: 6, name: "reference entries above notes in the search index", sql: """
            -- Entries move from -id to 2^62 + id (SearchIndex.rowid(of:)): the newest rowids then
            -- hold every entry, and one pass ranks them with the newest notes.
            INSERT INTO search (rowid, title, body, extra, space, collection, record, tags)
                SELECT 4611686018427387904 - rowid, title, body, extra, space, collection, record, tags FROM search WHERE collection = 'entries' AND rowid < 0;
            DELETE FROM search WHERE collection = 'entries' AND rowid < 0;
            """),
        // The index holds terms (folded spellings, stems) and the filters' columns: rebuilt from
        // the records, in this migration's one transaction (crash-safe: all or nothing).
        Migration(version: 7, name: "search index of stemmed terms, with filter columns") { db in try SearchIndex.rebuild(db) },
    ])

    /// Opens (creating if needed) the store at `path`.
    public init(path: String, schema: Schema = .standard) throws {
        db = try Database(configuration: DatabaseConfiguration(path: path, synchronous: .full))
        // 8 MiB of page cache (SQLite's default is 2): a push reads each batch's outbox rows and
        // records again to acknowledge them, and they should still be in memory then.
        try db.execute("PRAGMA cache_size = -8192")
        _ = try Self.migrator.migrate(db)
        checkpointer = try Checkpointer(path: path)
        checkpointer.attach(to: db)
        self.schema = schema
    }

    public func close() {
        db.close()
        checkpointer.close()
    }

    public mutating func inTransaction<T>(_ body: (inout SQLiteReplicaStorage) throws -> T) throws -> T {
        var copy = self
        return try db.transaction(.immediate) { try body(&copy) }
    }

    /// Runs a read in one snapshot.
    func read<T>(_ body: () throws -> T) throws -> T { try db.transaction(.deferred, body) }

    // MARK: meta

    func meta(_ key: String) throws -> [UInt8]? {
        try db.query("SELECT value FROM meta WHERE key = ?", key) { $0.blob(at: 0) }.first
    }

    func setMeta(_ key: String, _ value: [UInt8]?) throws {
        if let value {
            try db.run("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value)
        } else {
            try db.run("DELETE FROM meta WHERE key = ?", key)
        }
    }

    func metaString(_ key: String) throws -> String? { try meta(key).map { String(decoding: $0, as: UTF8.self) } }
    func setMetaString(_ key: String, _ value: String?) throws { try setMeta(key, value.map { Array($0.utf8) }) }

    public mutating func newMutationID() -> MutationID {
        var rng = SystemRandomNumberGenerator()
        return .random(using: &rng)
    }

    public func deviceState() throws -> DeviceState {
        guard let raw = try metaString("device") else { throw ClientError.notJoined() }
        let counter = try metaString("counter").flatMap(UInt64.init) ?? 0
        let clock = try metaString("clock").flatMap(UInt64.init).map(HLC.init(rawValue:)) ?? .zero
        // A store from before answered counters were kept made every write up to its counter.
        let answered = try metaString("answered_counter").flatMap(UInt64.init) ?? counter
        let recoveredAt = try metaString("recovered_at").flatMap(Int64.init) ?? 0
        return DeviceState(device: DeviceID(unchecked: raw), counter: counter, clock: clock, answeredCounter: answered, recoveredAt: recoveredAt)
    }

    public mutating func saveDeviceState(_ state: DeviceState) throws {
        try setMetaString("device", state.device.rawValue)
        try setMetaString("counter", String(state.counter))
        try setMetaString("clock", String(state.clock.rawValue))
        try setMetaString("answered_counter", String(state.answeredCounter))
        try setMetaString("recovered_at", String(state.recoveredAt))
    }

    // MARK: records

    public func record(_ key: RecordKey) throws -> LocalRecord? {
        try db.query(
            "SELECT confirmed_version, confirmed, view, confirmed_is_view FROM records WHERE space = ? AND collection = ? AND record = ?",
            key.space.rawValue, key.collection.rawValue, key.record.rawValue
        ) { row in
            let view = row.isNull(at: 2) ? nil : try FieldValues.decode(row.blob(at: 2))
            return LocalRecord(
                key: key, confirmedVersion: row.int64(at: 0),
                confirmed: row.bool(at: 3) ? view : row.isNull(at: 1) ? nil : try FieldValues.decode(row.blob(at: 1)),
                view: view)
        }.first
    }

    public mutating func saveRecord(_ record: LocalRecord) throws {
        let k = record.key
        let view = record.view.map(FieldValues.encode)
        let confirmed = record.confirmed.map(FieldValues.encode)
        // Encodings are canonical (fields sorted), so equal bytes are equal states.
        let same = confirmed == view
        let old = try db.query(
            "SELECT id, view FROM records WHERE space = ? AND collection = ? AND record = ?",
            k.space.rawValue, k.collection.rawValue, k.record.rawValue
        ) { ($0.int64(at: 0), $0.isNull(at: 1) ? nil : $0.blob(at: 1)) }.first
        let id: Int64
        if let old {
            id = old.0
            try db.run(
                "UPDATE records SET confirmed_version = ?, confirmed = ?, view = ?, confirmed_is_view = ? WHERE id = ?",
                record.confirmedVersion, same ? nil : confirmed, view, same, id)
            // The full-text row follows the view; most saves (confirmations) leave it alone.
            if old.1 == view { return }
        } else {
            id = try db.query(
                "INSERT INTO records (space, collection, record, confirmed_version, confirmed, view, confirmed_is_view) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                k.space.rawValue, k.collection.rawValue, k.record.rawValue, record.confirmedVersion, same ? nil : confirmed, view, same
            ) { $0.int64(at: 0) }[0]
        }
        try SearchIndex.update(db, id: id, key: k, view: record.view)
    }

    public func records(in space: SpaceID) throws -> [LocalRecord] {
        let keys = try db.query("SELECT collection, record FROM records WHERE space = ? ORDER BY collection, record", space.rawValue) {
            RecordKey(space: space, collection: Name(stringLiteral: $0.string(at: 0)), record: RecordID(unchecked: $0.string(at: 1)))
        }
        return try keys.compactMap { try record($0) }
    }

    /// Every record of a collection the user can see, optionally in one space.
    public func visible(collection: CollectionName, space: SpaceID? = nil) throws -> [(key: RecordKey, values: [FieldName: Value])] {
        try db.query(
            "SELECT space, record, view FROM records WHERE collection = ? AND (? IS NULL OR space = ?) AND view IS NOT NULL ORDER BY id",
            collection.rawValue, space?.rawValue, space?.rawValue
        ) { row in
            (RecordKey(space: SpaceID(unchecked: row.string(at: 0)), collection: collection, record: RecordID(unchecked: row.string(at: 1))),
             try FieldValues.decode(row.blob(at: 2)))
        }
    }

    // MARK: outbox

    static let entryColumns = "seq, mutation, texts, state, version, reason_code, reason_message"

    static func entry(_ row: Row) throws -> OutboxEntry {
        let state: OutboxEntry.State
        switch row.string(at: 3) {
        case "acknowledged": state = .acknowledged(version: row.int64(at: 4))
        case "rejected": state = .rejected(Rejection(RejectionCode(rawValue: row.string(at: 5)), row.string(at: 6)))
        default: state = .pending
        }
        let texts = try FieldValues.decode(row.blob(at: 2)).compactMapValues(\.textValue)
        return OutboxEntry(seq: row.int64(at: 0), mutation: try Mutation(wireBytes: row.blob(at: 1)), texts: texts, state: state)
    }

    public func outbox(for key: RecordKey) throws -> [OutboxEntry] {
        try db.query(
            "SELECT \(Self.entryColumns) FROM outbox WHERE space = ? AND collection = ? AND record = ? AND state != 'rejected' ORDER BY seq",
            key.space.rawValue, key.collection.rawValue, key.record.rawValue, map: Self.entry)
    }

    public func pendingEntries(after: Int64, limit: Int) throws -> [OutboxEntry] {
        try db.query("SELECT \(Self.entryColumns) FROM outbox WHERE state = 'pending' AND seq > ? ORDER BY seq LIMIT ?", after, limit, map: Self.entry)
    }

    public func pendingEncoded(after: Int64, limit: Int, maxBytes: Int) throws -> (mutations: [[UInt8]], last: Int64) {
        // The sizes first (SQLite reads a blob's length without its bytes), so a batch of large
        // notes is cut by bytes without loading the ones that do not fit.
        var through = after, bytes = 0, count = 0
        for (seq, size) in try db.query(
            "SELECT seq, length(mutation) FROM outbox WHERE state = 'pending' AND seq > ? ORDER BY seq LIMIT ?", after, limit,
            map: { ($0.int64(at: 0), Int($0.int64(at: 1))) }) {
            if count > 0 && bytes + size > maxBytes { break }
            bytes += size
            count += 1
            through = seq
        }
        var last = after
        let mutations = try db.query("SELECT seq, mutation FROM outbox WHERE state = 'pending' AND seq > ? AND seq <= ? ORDER BY seq", after, through) { row in
            last = row.int64(at: 0)
            return row.blob(at: 1)
        }
        return (mutations, last)
    }

    public func outboxHead(_ mutation: MutationID) throws -> OutboxHead? {
        try db.query("SELECT seq, mutation, state FROM outbox WHERE mutation_id = ?", mutation.rawValue) { row in
            let header = try Mutation.header(wireBytes: row.blob(at: 1))
            return OutboxHead(seq: row.int64(at: 0), counter: header.counter, key: header.key, operation: header.operation, baseVersion: header.baseVersion,
                              isRejected: row.string(at: 2) == "rejected")
        }.first
    }

    public func outboxEntry(_ mutation: MutationID) throws -> OutboxEntry? {
        try db.query("SELECT \(Self.entryColumns) FROM outbox WHERE mutation_id = ?", mutation.rawValue, map: Self.entry).first
    }

    public mutating func appendOutbox(_ entry: OutboxEntry) throws -> Int64 {
        let m = entry.mutation
        try db.run(
            "INSERT INTO outbox (mutation_id, space, collection, record, mutation, texts, state) VALUES (?, ?, ?, ?, ?, ?, 'pending')",
            m.id.rawValue, m.key.space.rawValue, m.key.collection.rawValue, m.key.record.rawValue, m.wireBytes,
            FieldValues.encode(entry.texts.mapValues(Value.text)))
        return db.lastInsertRowID
    }

    public mutating func updateOutbox(_ entry: OutboxEntry) throws {
        var state = "pending", version: Int64 = 0
        var code: String?, message: String?
        switch entry.state {
        case .pending: break
        case .acknowledged(let v): state = "acknowledged"; version = v
        case .rejected(let e): state = "rejected"; code = e.code.rawValue; message = e.message
        }
        try db.run(
            "UPDATE outbox SET mutation_id = ?, mutation = ?, texts = ?, state = ?, version = ?, reason_code = ?, reason_message = ? WHERE seq = ?",
            entry.mutation.id.rawValue, entry.mutation.wireBytes, FieldValues.encode(entry.texts.mapValues(Value.text)),
            state, version, code, message, entry.seq)
    }

    public mutating func markAcknowledged(seq: Int64, version: Version, asWritten: Bool) throws {
        try db.run("UPDATE outbox SET state = 'acknowledged', version = ?, as_written = ? WHERE seq = ?", version, asWritten, seq)
    }

    public func outboxSeqs(for key: RecordKey) throws -> [Int64] {
        try db.query(
            "SELECT seq FROM outbox WHERE space = ? AND collection = ? AND record = ? AND state != 'rejected' ORDER BY seq",
            key.space.rawValue, key.collection.rawValue, key.record.rawValue
        ) { $0.int64(at: 0) }
    }

    public mutating func confirmView(of key: RecordKey, version: Version) throws {
        try db.run(
            "UPDATE records SET confirmed_version = ?, confirmed = NULL, confirmed_is_view = 1 WHERE space = ? AND collection = ? AND record = ?",
            version, key.space.rawValue, key.collection.rawValue, key.record.rawValue)
    }

    public func asWrittenAcknowledgedCount(in space: SpaceID) throws -> Int {
        try db.query("SELECT count(*) FROM outbox WHERE state = 'acknowledged' AND as_written = 1 AND space = ?", space.rawValue) { $0.int(at: 0) }[0]
    }

    public func confirmedVersion(of key: RecordKey) throws -> Version? {
        try db.query(
            "SELECT confirmed_version FROM records WHERE space = ? AND collection = ? AND record = ?",
            key.space.rawValue, key.collection.rawValue, key.record.rawValue
        ) { $0.int64(at: 0) }.first
    }

    public mutating func removeOutbox(seq: Int64) throws {
        try db.run("DELETE FROM outbox WHERE seq = ?", seq)
    }

    public func acknowledgedEntries() throws -> [OutboxEntry] {
        try db.query("SELECT \(Self.entryColumns) FROM outbox WHERE state = 'acknowledged' ORDER BY seq", map: Self.entry)
    }

    public func rejectedEntries() throws -> [OutboxEntry] {
        try db.query("SELECT \(Self.entryColumns) FROM outbox WHERE state = 'rejected' ORDER BY seq", map: Self.entry)
    }

    public func pendingCount() throws -> Int {
        try db.query("SELECT count(*) FROM outbox WHERE state = 'pending'") { $0.int(at: 0) }[0]
    }

    // MARK: cursors

    public func cursor(of space: SpaceID) throws -> Version {
        try db.query("SELECT cursor FROM cursors WHERE space = ?", space.rawValue) { $0.int64(at: 0) }.first ?? 0
    }

    public mutating func setCursor(_ cursor: Version, of space: SpaceID) throws {
        try db.run(
            "INSERT INTO cursors (space, cursor) VALUES (?, ?) ON CONFLICT (space) DO UPDATE SET cursor = excluded.cursor",
            space.rawValue, cursor)
    }

    public func bootstrapHorizon(of space: SpaceID) throws -> Version? {
        try db.query("SELECT bootstrap FROM cursors WHERE space = ?", space.rawValue) { $0.isNull(at: 0) ? nil : $0.int64(at: 0) }.first ?? nil
    }

    public mutating func setBootstrapHorizon(_ horizon: Version?, of space: SpaceID) throws {
        try db.run(
            "INSERT INTO cursors (space, cursor, bootstrap) VALUES (?, 0, ?) ON CONFLICT (space) DO UPDATE SET bootstrap = excluded.bootstrap",
            space.rawValue, horizon)
    }

    /// Every space with a cursor.
    func knownSpaces() throws -> [SpaceID] {
        try db.query("SELECT space FROM cursors ORDER BY space") { SpaceID(unchecked: $0.string(at: 0)) }
    }
}
