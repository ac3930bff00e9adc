import Logging
import PostgresNIO
import SatchelProtocol
import SatchelServerCore

/// The change log's reads and writes on one PostgreSQL transaction, for the shared plan
/// (`ChangeLogPlan`; the asynchronous drive `ChangeLogBackend` describes). Each kind of question
/// of a read set is one statement however many mutations ask it, so a push of 500 notes costs a
/// handful of round trips, not thousands.
///
/// Made by `lockHead`, which takes `log_head`'s row lock: every read and write after it is
/// under the version lock until the transaction ends.
struct PostgresChangeLog {
    let connection: PostgresConnection
    let schema: Schema
    let logger: Logger
    /// When the changes appended now are written (ms), kept for retention.
    let now: Timestamp
    /// The last version handed out: read under the lock, then moved by this transaction's writes.
    private(set) var head: Version

    /// Takes the version lock (waiting for another server's push to commit) and reads the head.
    static func lockHead(_ connection: PostgresConnection, schema: Schema, now: Timestamp, logger: Logger) async throws -> PostgresChangeLog {
        let head = try await connection.rows("SELECT version FROM log_head FOR UPDATE", logger: logger).first.map { try $0.decode(Int64.self) } ?? 0
        return PostgresChangeLog(connection: connection, schema: schema, logger: logger, now: now, head: head)
    }

    /// Applies one push (or an operator's write): reads, plans until nothing is missing, writes.
    mutating func apply(_ mutations: [Mutation], asOperator: Bool) async throws -> [MutationResult] {
        var reads = try await read(LogReadRequest(mutations, asOperator: asOperator))
        while true {
            switch ChangeLogPlan.plan(mutations, asOperator: asOperator, reads: reads, schema: schema) {
            case .needs(let more):
                reads.formUnion(try await read(more))
            case .ready(let results, let writes):
                try await write(writes)
                return results
            }
        }
    }

    // MARK: reads

    func read(_ request: LogReadRequest) async throws -> LogReadSet {
        var set = LogReadSet()
        if request.head { set.head = head }
        if !request.results.isEmpty { try await readResults(request.results, into: &set) }
        if !request.counters.isEmpty { try await readCounters(request.counters, into: &set) }
        if !request.records.isEmpty {
            let found = try await currentStates(of: request.records)
            for key in request.records { set.records.updateValue(found[key], forKey: key) }
        }
        if !request.bases.isEmpty { try await readBases(request.bases, into: &set) }
        return set
    }

    private func readResults(_ ids: Set<MutationID>, into set: inout LogReadSet) async throws {
        for id in ids { set.results.updateValue(nil, forKey: id) }
        let rows = try await connection.rows(
            "SELECT id, device, result, as_written FROM mutations WHERE id = ANY(\(ids.map(\.rawValue))::text[])", logger: logger)
        for row in rows {
            let (id, device, bytes, asWritten) = try row.decode((String, String, ByteBuffer, Bool).self)
            var result = try MutationResult(wireBytes: [UInt8](bytea: bytes))
            result.asWritten = asWritten
            set.results.updateValue(EarlierResult(device: DeviceID(unchecked: device), result: result), forKey: MutationID(unchecked: id))
        }
    }

    private func readCounters(_ counters: Set<DeviceCounter>, into set: inout LogReadSet) async throws {
        for c in counters { set.counters.updateValue(nil, forKey: c) }
        let asked = Array(counters)
        let rows = try await connection.rows(
            """
            SELECT m.device, m.counter, m.id FROM mutations m
            JOIN unnest(\(asked.map(\.device.rawValue))::text[], \(asked.map { Int64(bitPattern: $0.counter) })::bigint[]) AS q(device, counter)
              ON m.device = q.device AND m.counter = q.counter
            """, logger: logger)
        for row in rows {
            let (device, counter, id) = try row.decode((String, Int64, String).self)
            set.counters.updateValue(MutationID(unchecked: id), forKey: DeviceCounter(device: DeviceID(unchecked: device), counter: UInt64(bitPattern: counter)))
        }
    }

    /// The current states of `keys` that exist.
    private func currentStates(of keys: some Collection<RecordKey>) async throws -> [RecordKey: RecordState] {
        let asked = Array(keys)
        let rows = try await connection.rows(
            """
            SELECT r.space, r.collection, r.record, r.state FROM records r
            JOIN unnest(\(asked.map(\.space.rawValue))::text[], \(asked.map(\.collection.rawValue))::text[], \(asked.map(\.record.rawValue))::text[])
              AS q(space, collection, record)
              ON r.space = q.space AND r.collection = q.collection AND r.record = q.record
            """, logger: logger)
        var found: [RecordKey: RecordState] = [:]
        for row in rows {
            let (space, collection, record, state) = try row.decode((String, String, String, ByteBuffer).self)
            let key = RecordKey(space: SpaceID(unchecked: space), collection: try CollectionName(collection), record: RecordID(unchecked: record))
            found[key] = try RecordState(wireBytes: [UInt8](bytea: state))
        }
        return found
    }

    /// `ChangeLogReading.base(of:at:)` for many at once: nil below the space's horizon; the
    /// current state when it is not newer than the base; else the newest kept state at or below it.
    private func readBases(_ bases: Set<RecordBase>, into set: inout LogReadSet) async throws {
        let asked = Array(bases)
        let spaces = Set(asked.map(\.key.space))
        var horizons: [SpaceID: Version] = [:]
        for row in try await connection.rows("SELECT id, horizon FROM spaces WHERE id = ANY(\(spaces.map(\.rawValue))::text[])", logger: logger) {
            let (id, horizon) = try row.decode((String, Int64).self)
            horizons[SpaceID(unchecked: id)] = horizon
        }
        let current = try await currentStates(of: Set(asked.map(\.key)))
        var fromHistory: [RecordBase] = []
        for base in asked {
            set.bases.updateValue(nil, forKey: base)
            guard base.version > 0, base.version >= horizons[base.key.space] ?? 0 else { continue }
            if let state = current[base.key], state.version <= base.version {
                set.bases.updateValue(state, forKey: base)
            } else {
                fromHistory.append(base)
            }
        }
        guard !fromHistory.isEmpty else { return }
        let rows = try await connection.rows(
            """
            SELECT DISTINCT ON (q.space, q.collection, q.record, q.version) q.space, q.collection, q.record, q.version, h.state
            FROM unnest(\(fromHistory.map(\.key.space.rawValue))::text[], \(fromHistory.map(\.key.collection.rawValue))::text[],
                        \(fromHistory.map(\.key.record.rawValue))::text[], \(fromHistory.map(\.version))::bigint[]) AS q(space, collection, record, version)
            JOIN record_history h ON h.space = q.space AND h.collection = q.collection AND h.record = q.record AND h.version <= q.version
            ORDER BY q.space, q.collection, q.record, q.version, h.version DESC
            """, logger: logger)
        for row in rows {
            let (space, collection, record, version, state) = try row.decode((String, String, String, Int64, ByteBuffer).self)
            let key = RecordKey(space: SpaceID(unchecked: space), collection: try CollectionName(collection), record: RecordID(unchecked: record))
            set.bases.updateValue(try RecordState(wireBytes: [UInt8](bytea: state)), forKey: RecordBase(key: key, version: version))
        }
    }

    // MARK: writes

    /// Writes a planned push, a statement per table; a throw leaves it half-written, for the
    /// caller's savepoint to roll back. The head moves only once all of it is written.
    mutating func write(_ writes: LogWriteSet) async throws {
        precondition(writes.changes.first.map { $0.change.version == head + 1 } ?? true, "changes must be appended in version order")
        if !writes.changes.isEmpty {
            let changes = writes.changes
            try await connection.rows(
                """
                INSERT INTO changes (version, space, data, at, own_device)
                SELECT v, s, d, \(now), nullif(o, '') FROM unnest(
                    \(changes.map(\.change.version))::bigint[], \(changes.map(\.change.key.space.rawValue))::text[],
                    \(changes.map { $0.change.wireBytes.bytea })::bytea[], \(changes.map { $0.asWrittenBy?.rawValue ?? "" })::text[]) AS t(v, s, d, o)
                """, logger: logger)
        }
        // One row per key and version in a statement (ON CONFLICT may not touch a row twice).
        let history = Self.lastPerKey(writes.history) { RecordBase(key: $0.key, version: $0.state.version) }
        if !history.isEmpty {
            try await connection.rows(
                """
                INSERT INTO record_history (space, collection, record, version, state)
                SELECT * FROM unnest(\(history.map(\.key.space.rawValue))::text[], \(history.map(\.key.collection.rawValue))::text[],
                    \(history.map(\.key.record.rawValue))::text[], \(history.map(\.state.version))::bigint[], \(history.map { $0.state.wireBytes.bytea })::bytea[])
                ON CONFLICT (space, collection, record, version) DO UPDATE SET state = EXCLUDED.state
                """, logger: logger)
        }
        let records = Self.lastPerKey(writes.records) { $0.key }
        if !records.isEmpty {
            try await connection.rows(
                """
                INSERT INTO records (space, collection, record, version, state)
                SELECT * FROM unnest(\(records.map(\.key.space.rawValue))::text[], \(records.map(\.key.collection.rawValue))::text[],
                    \(records.map(\.key.record.rawValue))::text[], \(records.map(\.state.version))::bigint[], \(records.map { $0.state.wireBytes.bytea })::bytea[])
                ON CONFLICT (space, collection, record) DO UPDATE SET version = EXCLUDED.version, state = EXCLUDED.state
                """, logger: logger)
        }
        if !writes.results.isEmpty {
            let saved = writes.results
            try await connection.rows(
                """
                INSERT INTO mutations (id, device, space, result, as_written, counter, clock)
                SELECT i, d, s, r, w, CASE WHEN n THEN c END, CASE WHEN n THEN k END FROM unnest(
                    \(saved.map(\.mutation.id.rawValue))::text[], \(saved.map(\.mutation.device.rawValue))::text[],
                    \(saved.map(\.mutation.key.space.rawValue))::text[], \(saved.map { $0.result.wireBytes.bytea })::bytea[],
                    \(saved.map(\.result.asWritten))::boolean[], \(saved.map { Int64(bitPattern: $0.mutation.counter) })::bigint[],
                    \(saved.map { Int64(bitPattern: $0.mutation.clock.rawValue) })::bigint[], \(saved.map(\.counted))::boolean[]) AS t(i, d, s, r, w, c, k, n)
                """, logger: logger)
        }
        if writes.head != head {
            try await connection.rows("UPDATE log_head SET version = \(writes.head)", logger: logger)
        }
        head = writes.head
    }

    /// The last of each key, in the order first seen.
    private static func lastPerKey<T, K: Hashable>(_ items: [T], key: (T) -> K) -> [T] {
        var index: [K: Int] = [:]
        var out: [T] = []
        for item in items {
            let k = key(item)
            if let i = index[k] { out[i] = item } else {
                index[k] = out.count
                out.append(item)
            }
        }
        return out
    }
}
