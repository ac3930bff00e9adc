import Foundation
public import SatchelProtocol
public import SatchelServerCore
public import SatchelSQLite

/// Bootstrap snapshots, retention, forced re-bootstraps and backups.
extension SQLiteServerStore {
    public nonisolated func snapshot(space: SpaceID, after: Version, limit: Int) async throws -> EncodedPage {
        try await page(space, after: after, limit: limit,
                 "SELECT version, collection, record, state FROM records WHERE space = ? AND version > ? ORDER BY version LIMIT ?") { row in
            let key = RecordKey(space: space, collection: try CollectionName(row.string(at: 1)), record: RecordID(unchecked: row.string(at: 2)))
            return Change(snapshotOf: try RecordState(wireBytes: row.blob(at: 3)), key: key).wireBytes
        }
    }

    public func version(of space: SpaceID, writtenBefore cutoff: Timestamp) throws -> Version {
        // Changes from before retention was recorded (NULL) count as old.
        try database().query(
            "SELECT coalesce(max(version), 0) FROM changes WHERE space = ? AND coalesce(at, 0) < ?", space.rawValue, cutoff
        ) { $0.int64(at: 0) }.first ?? 0
    }

    public func compact(_ space: SpaceID, through version: Version, dryRun: Bool) throws -> CompactionReport {
        let db = try database()
        struct DryRun: Error { var report: CompactionReport }
        // A failed compaction wakes the tail for nothing; it finds no event.
        defer { if !dryRun { published() } }
        do {
            return try db.transaction(.immediate) {
                guard let previous = try db.query("SELECT horizon FROM spaces WHERE id = ?", space.rawValue, map: { $0.int64(at: 0) }).first else {
                    throw StoreError(.unknownSpace, "space '\(space)' does not exist; `satchel-server space list` shows the spaces")
                }
                let head = try Self.headVersion(space, db)
                guard version <= head else {
                    throw StoreError(.beyondHead, "space '\(space)' is at version \(head); it cannot be compacted through \(version)")
                }
                let through = max(previous, version)
                let changes = try db.run("DELETE FROM changes WHERE space = ? AND version <= ?", space.rawValue, through)
                // Tombstones at or below the horizon: every device within it has seen the delete,
                // and a bootstrap does not need them.
                let tombstones = try db.query(
                    "SELECT collection, record, state FROM records WHERE space = ? AND version <= ?", space.rawValue, through
                ) { row in (row.string(at: 0), row.string(at: 1), try RecordState(wireBytes: row.blob(at: 2)).deleted) }
                    .filter(\.2)
                var history = 0
                for (collection, record, _) in tombstones {
                    try db.run("DELETE FROM records WHERE space = ? AND collection = ? AND record = ?", space.rawValue, collection, record)
                    history += try db.run("DELETE FROM record_history WHERE space = ? AND collection = ? AND record = ?", space.rawValue, collection, record)
                }
                // Merge bases older than the newest one at or below the horizon: mutations based
                // on them get stale_base conflicts already (ChangeLogStorage.base).
                history += try db.run(
                    """
                    DELETE FROM record_history WHERE space = ?1 AND version < (
                        SELECT max(h.version) FROM record_history h
                        WHERE h.space = record_history.space AND h.collection = record_history.collection
                          AND h.record = record_history.record AND h.version <= ?2)
                    """, space.rawValue, through)
                try db.run("UPDATE spaces SET horizon = ? WHERE id = ?", through, space.rawValue)
                if !dryRun { try record(.compacted(space: space, horizon: through), db) }
                let report = CompactionReport(
                    space: space.rawValue, previousHorizon: previous, horizon: through,
                    changes: changes, tombstones: tombstones.count, history: history, dryRun: dryRun)
                if dryRun { throw DryRun(report: report) }
                return report
            }
        } catch let dry as DryRun {
            return dry.report
        }
    }

    public func requestReset(device: DeviceID, space: SpaceID, now: Timestamp) throws {
        let db = try database()
        try db.transaction {
            guard try !db.query("SELECT 1 FROM devices WHERE id = ?", device.rawValue, map: { _ in () }).isEmpty else {
                throw StoreError(.unknownDevice, "device '\(device)' does not exist; `satchel-server device list` shows the devices")
            }
            guard try !db.query("SELECT 1 FROM spaces WHERE id = ?", space.rawValue, map: { _ in () }).isEmpty else {
                throw StoreError(.unknownSpace, "space '\(space)' does not exist; `satchel-server space list` shows the spaces")
            }
            try db.run("INSERT OR REPLACE INTO forced_resets (device, space, requested_at) VALUES (?, ?, ?)", device.rawValue, space.rawValue, now)
            try record(.resetRequested(device: device, space: space), db)
        }
        published()
    }

    /// Asks every device to pull every space again (after a restore); returns how many devices.
    func requestResetEverywhere(now: Timestamp) throws -> Int {
        let db = try database()
        return try db.transaction {
            try db.run("INSERT OR REPLACE INTO forced_resets (device, space, requested_at) SELECT d.id, s.id, ? FROM devices d, spaces s", now)
            return try db.query("SELECT count(*) FROM devices") { $0.int(at: 0) }[0]
        }
    }

    /// Asked on every pull, so read on a reader connection: only clearing a request (rare)
    /// waits for the writer.
    public nonisolated func resetRequested(device: DeviceID, space: SpaceID, clear: Bool) async throws -> Bool {
        let requested = try await read {
            try !$0.query("SELECT 1 FROM forced_resets WHERE device = ? AND space = ?", device.rawValue, space.rawValue, map: { _ in () }).isEmpty
        }
        if requested && clear { try await clearReset(device: device, space: space) }
        return requested
    }

    private func clearReset(device: DeviceID, space: SpaceID) throws {
        try database().run("DELETE FROM forced_resets WHERE device = ? AND space = ?", device.rawValue, space.rawValue)
    }

    /// Runs `VACUUM INTO` on a connection of its own, so the store keeps taking writes (WAL)
    /// while the copy is made from one read snapshot. The copy is written beside `path`,
    /// flushed to disk, then renamed into place: `path` never holds half a backup.
    public nonisolated func backup(to path: String) async throws {
        let source = self.path
        try await runBlocking {
            guard !FileManager.default.fileExists(atPath: path) else {
                throw StoreError(.backupFailed, "'\(path)' already exists; choose a new file name")
            }
            let partial = path + ".partial"
            try? FileManager.default.removeItem(atPath: partial)
            do {
                let db = try Database(configuration: DatabaseConfiguration(path: source, readOnly: true))
                defer { db.close() }
                // A backup holds everything the database does: its owner's only. VACUUM INTO
                // writes into an empty file it finds, keeping the file's mode.
                try PrivateFiles.create(file: partial)
                try db.run("VACUUM INTO ?", partial)
                let handle = try FileHandle(forUpdating: URL(fileURLWithPath: partial))
                try handle.synchronize()
                try handle.close()
                try FileManager.default.moveItem(atPath: partial, toPath: path)
            } catch let error as StoreError {
                throw error
            } catch {
                try? FileManager.default.removeItem(atPath: partial)
                throw StoreError(.backupFailed, "could not write the backup to '\(path)': \(error)")
            }
        }
    }

    public func sizeOnDisk() throws -> Int64 {
        let files = [path, path + "-wal"]
        return files.reduce(0) { sum, file in
            sum + ((try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int64) ?? 0)
        }
    }
}

extension SQLiteServerStore: FileBackedStore {
    public nonisolated var directory: String { (path as NSString).deletingLastPathComponent }
}

/// How the server core reads SQLite's errors: SQLITE_FULL is a full disk; the description names
/// the statement, never a bound value.
extension SQLiteError: BackendFailure {
    public var isDiskFull: Bool { isFull }
    public var logDescription: String { description }
}
