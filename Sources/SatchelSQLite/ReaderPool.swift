import Foundation

/// Read-only connections to one WAL database, lent to one caller at a time.
///
/// In WAL mode a reader sees the last commit and never waits for the writer, so reads served
/// from here stay fast while a long write transaction runs on the writer's own connection.
/// Connections are opened on demand and at most `keep` idle ones are kept.
///
/// ```swift
/// let readers = ReaderPool(path: "/var/lib/satchel/satchel.sqlite")
/// let count = try readers.read { db in try db.query("SELECT count(*) FROM notes") { $0.int64(at: 0) } }
/// ```
public final class ReaderPool: @unchecked Sendable {
    // @unchecked: `idle` is only touched under `lock`, and a lent Database is used by one
    // caller at a time, which is all SQLite's NOMUTEX connections need.
    private let lock = NSLock()
    private var idle: [Database] = []
    private var closed = false
    private let configuration: DatabaseConfiguration
    private let keep: Int
    private let setUp: @Sendable (Database) throws -> Void

    /// Readers of the database at `path`, which must exist and be in WAL mode. `setUp` runs on
    /// each new connection (for pragmas such as its cache size).
    public init(path: String, keep: Int = 4, setUp: @escaping @Sendable (Database) throws -> Void = { _ in }) {
        configuration = DatabaseConfiguration(path: path, readOnly: true)
        self.keep = keep
        self.setUp = setUp
    }

    /// Runs `body` with a connection no one else is using.
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        let db = try take()
        defer { give(db) }
        return try body(db)
    }

    private func take() throws -> Database {
        lock.lock()
        if closed {
            lock.unlock()
            throw SQLiteError(code: 21 /* SQLITE_MISUSE */, message: "the database is closed", sql: nil)
        }
        let reused = idle.popLast()
        lock.unlock()
        if let reused { return reused }
        let db = try Database(configuration: configuration)
        try setUp(db)
        return db
    }

    private func give(_ db: Database) {
        lock.lock()
        let kept = !closed && idle.count < keep
        if kept { idle.append(db) }
        lock.unlock()
        if !kept { db.close() }
    }

    /// Closes the idle connections; lent ones close when they come back.
    public func close() {
        lock.lock()
        closed = true
        let all = idle
        idle = []
        lock.unlock()
        for db in all { db.close() }
    }
}
