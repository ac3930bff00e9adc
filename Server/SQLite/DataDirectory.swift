import Foundation
#if canImport(Glibc)
import Glibc
#endif
public import SatchelServerCore
public import SatchelSQLite

/// An exclusive lock on a data directory (`flock` on `satchel.lock`), held by a serving server
/// for its whole life and by `restore` while it swaps the database. The kernel drops it when
/// the process dies, even by kill -9, so a crash never leaves it stale.
public final class DataDirectoryLock: Sendable {
    private let fd: Int32

    /// Takes the lock, or throws `dataDirectoryBusy` when another process holds it.
    public init(directory: String) throws {
        try PrivateFiles.prepare(directory: directory)
        let path = (directory as NSString).appendingPathComponent("satchel.lock")
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError(.dataDirectoryBusy, "cannot open '\(path)': \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw StoreError(.dataDirectoryBusy, "a satchel-server is serving '\(directory)'; stop it first (or use another --data directory)")
        }
    }

    deinit { close(fd) }
}

extension SQLiteServerStore {
    /// The database file in a data directory.
    public static func databasePath(inDataDirectory directory: String) -> String {
        (directory as NSString).appendingPathComponent("satchel.sqlite")
    }
}

/// Replaces a data directory's database with a backup, while no server serves it.
public enum Restore {
    public struct Report: Codable, Hashable, Sendable {
        public var restoredFrom: String
        /// Where the replaced database was kept (nil when there was none).
        public var previousKeptAt: String?
        public var schemaVersion: Int
        /// Devices told to pull every space again on their next sync.
        public var devicesToRebootstrap: Int
    }

    /// Checks that `backup` is a whole, readable Satchel database, keeps the current database
    /// beside it as `satchel.sqlite.before-restore-<time>`, and puts a copy of the backup in
    /// place (written beside it, flushed, then renamed, so a crash leaves one or the other).
    ///
    /// Every device is then asked to bootstrap again: versions after the backup will be handed
    /// out anew, so a device's cursor from before the restore no longer names the same history.
    public static func restore(backup: String, intoDataDirectory directory: String, now: Int64) async throws -> Report {
        let lock = try DataDirectoryLock(directory: directory)
        defer { withExtendedLifetime(lock) {} }
        let schemaVersion = try check(backup)
        let fm = FileManager.default
        let target = SQLiteServerStore.databasePath(inDataDirectory: directory)
        var kept: String?
        if fm.fileExists(atPath: target) {
            // Fold the WAL into the file first, so the kept copy is whole on its own.
            let db = try Database(configuration: DatabaseConfiguration(path: target))
            _ = try db.query("PRAGMA wal_checkpoint(TRUNCATE)") { _ in () }
            db.close()
            let keep = target + ".before-restore-\(now)"
            try fm.moveItem(atPath: target, toPath: keep)
            kept = keep
        }
        for suffix in ["-wal", "-shm"] { try? fm.removeItem(atPath: target + suffix) }
        let partial = target + ".partial"
        try? fm.removeItem(atPath: partial)
        try fm.copyItem(atPath: backup, toPath: partial)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: partial))
        try handle.synchronize()
        try handle.close()
        try fm.moveItem(atPath: partial, toPath: target)
        try PrivateFiles.prepare(directory: directory)  // the copy kept the backup's mode

        let store = try SQLiteServerStore(path: target)
        let devices = try await store.requestResetEverywhere(now: now)
        await store.close()
        return Report(restoredFrom: backup, previousKeptAt: kept, schemaVersion: schemaVersion, devicesToRebootstrap: devices)
    }

    /// The backup's schema version, after checking it is an intact Satchel database this server
    /// can open.
    static func check(_ path: String) throws -> Int {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError(.restoreRefused, "'\(path)' does not exist")
        }
        let db: Database
        do {
            db = try Database(configuration: DatabaseConfiguration(path: path, readOnly: true))
        } catch {
            throw StoreError(.restoreRefused, "'\(path)' is not a SQLite database: \(error)")
        }
        defer { db.close() }
        do {
            let integrity = try db.query("PRAGMA integrity_check") { $0.string(at: 0) }
            guard integrity == ["ok"] else {
                throw StoreError(.restoreRefused, "'\(path)' is damaged (\(integrity.prefix(3).joined(separator: "; "))); use another backup")
            }
            let tables = Set(try db.query("SELECT name FROM sqlite_master WHERE type = 'table'") { $0.string(at: 0) })
            guard tables.isSuperset(of: ["spaces", "devices", "changes", "records", "mutations"]) else {
                throw StoreError(.restoreRefused, "'\(path)' is a SQLite database but not a Satchel server's; use a file made by `satchel-server backup`")
            }
            let version = try db.query("PRAGMA user_version") { $0.int(at: 0) }.first ?? 0
            guard version <= SQLiteServerStore.migrator.latestVersion else {
                throw StoreError(.restoreRefused, "'\(path)' comes from a newer satchel-server (schema \(version)); update this one first")
            }
            return version
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.restoreRefused, "'\(path)' cannot be read as a Satchel database: \(error)")
        }
    }
}
