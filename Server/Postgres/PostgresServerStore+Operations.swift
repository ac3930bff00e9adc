import Logging
import PostgresNIO
public import SatchelProtocol
public import SatchelServerCore

/// Bookkeeping for the operator's view, forced re-bootstraps and retention.
extension PostgresServerStore {
    public func touch(_ device: DeviceID, client: String?, now: Timestamp) async throws {
        bookkeeping.withLock { $0.touch(device, client: client, now: now) }
    }

    public func recordPull(device: DeviceID, space: SpaceID, cursor: Version, now: Timestamp) async throws {
        bookkeeping.withLock { $0.cursors.append(PullMark(device: device, space: space, cursor: cursor, at: now)) }
    }

    public func flushActivity() async throws { try await writeBookkeeping() }

    /// Writes the bookkeeping noted since the last write, in one transaction, rows in key order
    /// so two servers writing the same devices' rows never deadlock. The notes are taken out
    /// first: the activity flush and an operator's read may write at once, and each note must be
    /// written by one of them (SQLite's actor runs its writes one at a time; this is async).
    func writeBookkeeping() async throws {
        let pending = bookkeeping.withLock { $0.takeAll() }
        guard !pending.cursors.isEmpty || !pending.seen.isEmpty else { return }
        do {
            try await write(pending)
        } catch {
            bookkeeping.withLock { $0.putBack(pending) }
            throw error
        }
    }

    private func write(_ pending: Bookkeeping) async throws {
        // The latest mark per device and space: a page of marks becomes one row each.
        var latest: [String: PullMark] = [:]
        for mark in pending.cursors { latest["\(mark.device.rawValue)\u{0}\(mark.space.rawValue)"] = mark }
        let marks = latest.sorted { $0.key < $1.key }.map(\.value)
        let seen = pending.seen.sorted { $0.key.rawValue < $1.key.rawValue }
        try await transaction { tx in
            if !marks.isEmpty {
                try await tx.rows(
                    """
                    INSERT INTO device_cursors (device, space, cursor, pulled_at)
                    SELECT * FROM unnest(\(marks.map(\.device.rawValue))::text[], \(marks.map(\.space.rawValue))::text[],
                                         \(marks.map(\.cursor))::bigint[], \(marks.map(\.at))::bigint[])
                    ON CONFLICT (device, space) DO UPDATE SET cursor = EXCLUDED.cursor, pulled_at = EXCLUDED.pulled_at
                    """, logger: logger)
            }
            if !seen.isEmpty {
                try await tx.rows(
                    """
                    UPDATE devices d SET last_seen_at = greatest(coalesce(d.last_seen_at, 0), t.at), client = coalesce(nullif(t.client, ''), d.client)
                    FROM unnest(\(seen.map(\.key.rawValue))::text[], \(seen.map(\.value.at))::bigint[], \(seen.map { $0.value.client ?? "" })::text[]) AS t(id, at, client)
                    WHERE d.id = t.id
                    """, logger: logger)
            }
        }
    }

    public func recordRejections(_ results: [MutationResult], device: DeviceID, now: Timestamp) async throws {
        let refused = results.compactMap { r in r.rejection.map { (r.mutation.rawValue, $0) } }
        guard !refused.isEmpty else { return }
        do {
            _ = try await rows(
                """
                INSERT INTO rejections (device, mutation, code, message, at)
                SELECT \(device.rawValue), m, c, t, \(now) FROM unnest(
                    \(refused.map(\.0))::text[], \(refused.map(\.1.code.rawValue))::text[], \(refused.map(\.1.message))::text[]) WITH ORDINALITY AS r(m, c, t, n)
                ORDER BY n
                """)
        } catch let error as PSQLError where error.isDiskFull {
            // Written after the push it comes from committed: a full disk must not turn that
            // push's answer into an error. The device has its refusals in the answer.
        }
    }

    public func activity(of device: DeviceID) async throws -> DeviceActivity {
        try await writeBookkeeping()
        return try await withConnection { connection in
            guard let info = try await connection.rows(
                "SELECT \(unescaped: Self.deviceColumns) FROM devices WHERE id = \(device.rawValue)", logger: logger
            ).first.map(Self.deviceInfo) else {
                throw StoreError(.unknownDevice, "device '\(device)' does not exist; `satchel-server device list` shows the devices")
            }
            var progress: [DeviceActivity.SpaceProgress] = []
            for access in try await spaces(of: info.user, connection) {
                let row = try await connection.rows(
                    """
                    SELECT coalesce(c.cursor, 0), c.pulled_at,
                           (SELECT count(*) FROM changes WHERE space = \(access.space.rawValue) AND version > coalesce(c.cursor, 0))
                    FROM (SELECT 1) AS one LEFT JOIN device_cursors c ON c.device = \(device.rawValue) AND c.space = \(access.space.rawValue)
                    """, logger: logger
                ).first
                guard let row else { continue }
                let (cursor, pulledAt, behind) = try row.decode((Int64, Int64?, Int64).self)
                progress.append(.init(space: access.space, cursor: cursor, pulledAt: pulledAt, behind: Int(behind)))
            }
            let rejected = try await connection.rows(
                "SELECT mutation, code, message FROM rejections WHERE device = \(device.rawValue) ORDER BY seq DESC LIMIT 20", logger: logger
            ).map { row in
                let (mutation, code, message) = try row.decode((String, String, String).self)
                return MutationResult(mutation: MutationID(unchecked: mutation), status: .rejected, version: 0, rejection: Rejection(RejectionCode(rawValue: code), message))
            }
            var conflicts: [RecordKey] = []
            for row in try await connection.rows("SELECT space, record, state FROM records WHERE collection = 'conflicts'", logger: logger) {
                let (space, record, bytes) = try row.decode((String, String, ByteBuffer).self)
                let state = try RecordState(wireBytes: [UInt8](bytea: bytes))
                guard !state.deleted, state.values["keptDevice"] == .string(device.rawValue) else { continue }
                conflicts.append(RecordKey(space: SpaceID(unchecked: space), collection: .conflicts, record: RecordID(unchecked: record)))
            }
            return DeviceActivity(spaces: progress, rejected: rejected, openConflicts: conflicts.sorted())
        }
    }

    public func requestReset(device: DeviceID, space: SpaceID, now: Timestamp) async throws {
        try await transaction { tx in
            guard try await !tx.rows("SELECT 1 FROM devices WHERE id = \(device.rawValue)", logger: logger).isEmpty else {
                throw StoreError(.unknownDevice, "device '\(device)' does not exist; `satchel-server device list` shows the devices")
            }
            guard try await !tx.rows("SELECT 1 FROM spaces WHERE id = \(space.rawValue)", logger: logger).isEmpty else {
                throw StoreError(.unknownSpace, "space '\(space)' does not exist; `satchel-server space list` shows the spaces")
            }
            try await tx.rows(
                """
                INSERT INTO forced_resets (device, space, requested_at) VALUES (\(device.rawValue), \(space.rawValue), \(now))
                ON CONFLICT (device, space) DO UPDATE SET requested_at = EXCLUDED.requested_at
                """, logger: logger)
            try await PostgresFeedTail.record(.resetRequested(device: device, space: space), at: now, tx, logger: logger)
        }
    }

    public func resetRequested(device: DeviceID, space: SpaceID, clear: Bool) async throws -> Bool {
        if clear {
            return try await !rows("DELETE FROM forced_resets WHERE device = \(device.rawValue) AND space = \(space.rawValue) RETURNING 1").isEmpty
        }
        return try await !rows("SELECT 1 FROM forced_resets WHERE device = \(device.rawValue) AND space = \(space.rawValue)").isEmpty
    }

    public func version(of space: SpaceID, writtenBefore cutoff: Timestamp) async throws -> Version {
        try await rows("SELECT coalesce(max(version), 0) FROM changes WHERE space = \(space.rawValue) AND at < \(cutoff)").first.map { try $0.decode(Int64.self) } ?? 0
    }

    public func compact(_ space: SpaceID, through version: Version, dryRun: Bool) async throws -> CompactionReport {
        try await transaction(rollback: dryRun) { tx in
            // The version lock, as a push takes it: no push commits into the range meanwhile.
            _ = try await PostgresChangeLog.lockHead(tx, schema: schema, now: 0, logger: logger)
            guard let previous = try await tx.rows("SELECT horizon FROM spaces WHERE id = \(space.rawValue) FOR UPDATE", logger: logger).first.map({ try $0.decode(Int64.self) }) else {
                throw StoreError(.unknownSpace, "space '\(space)' does not exist; `satchel-server space list` shows the spaces")
            }
            let head = try await Self.heads(space, tx, logger: logger).space
            guard version <= head else {
                throw StoreError(.beyondHead, "space '\(space)' is at version \(head); it cannot be compacted through \(version)")
            }
            let through = max(previous, version)
            let changes = try await tx.rows("DELETE FROM changes WHERE space = \(space.rawValue) AND version <= \(through) RETURNING 1", logger: logger).count
            // Tombstones at or below the horizon: every device within it has seen the delete,
            // and a bootstrap does not need them.
            var tombstones: [(String, String)] = []
            for row in try await tx.rows("SELECT collection, record, state FROM records WHERE space = \(space.rawValue) AND version <= \(through)", logger: logger) {
                let (collection, record, state) = try row.decode((String, String, ByteBuffer).self)
                if try RecordState(wireBytes: [UInt8](bytea: state)).deleted { tombstones.append((collection, record)) }
            }
            var history = 0
            if !tombstones.isEmpty {
                let (collections, ids) = (tombstones.map(\.0), tombstones.map(\.1))
                try await tx.rows(
                    """
                    DELETE FROM records r USING unnest(\(collections)::text[], \(ids)::text[]) AS t(c, i)
                    WHERE r.space = \(space.rawValue) AND r.collection = t.c AND r.record = t.i
                    """, logger: logger)
                history += try await tx.rows(
                    """
                    DELETE FROM record_history h USING unnest(\(collections)::text[], \(ids)::text[]) AS t(c, i)
                    WHERE h.space = \(space.rawValue) AND h.collection = t.c AND h.record = t.i RETURNING 1
                    """, logger: logger).count
            }
            // Merge bases older than the newest one at or below the horizon: mutations based on
            // them get stale_base conflicts already (ChangeLogStorage.base).
            history += try await tx.rows(
                """
                DELETE FROM record_history h WHERE h.space = \(space.rawValue) AND h.version < (
                    SELECT max(k.version) FROM record_history k
                    WHERE k.space = h.space AND k.collection = h.collection AND k.record = h.record AND k.version <= \(through))
                RETURNING 1
                """, logger: logger).count
            try await tx.rows("UPDATE spaces SET horizon = \(through) WHERE id = \(space.rawValue)", logger: logger)
            if !dryRun { try await PostgresFeedTail.record(.compacted(space: space, horizon: through), at: clock(), tx, logger: logger) }
            return CompactionReport(
                space: space.rawValue, previousHorizon: previous, horizon: through,
                changes: changes, tombstones: tombstones.count, history: history, dryRun: dryRun)
        }
    }
}

extension PostgresServerStore {
    /// Asks every device to pull every space again (after the database was restored with
    /// pg_restore, whose versions may lie behind devices' cursors); returns how many devices.
    public func requestResetEverywhere(now: Timestamp) async throws -> Int {
        try await transaction { tx in
            try await tx.rows(
                """
                INSERT INTO forced_resets (device, space, requested_at) SELECT d.id, s.id, \(now) FROM devices d, spaces s
                ON CONFLICT (device, space) DO UPDATE SET requested_at = EXCLUDED.requested_at
                """, logger: logger)
            return try await tx.rows("SELECT count(*) FROM devices", logger: logger).first.map { Int(try $0.decode(Int64.self)) } ?? 0
        }
    }
}

extension PostgresServerStore: SizedStore {
    /// The database's size as PostgreSQL counts it (tables, indexes, TOAST).
    public func sizeOnDisk() async throws -> Int64 {
        try await rows("SELECT pg_database_size(current_database())").first.map { try $0.decode(Int64.self) } ?? 0
    }
}
