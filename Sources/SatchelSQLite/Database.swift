import CSQLite

/// How a `Database` opens its file and which pragmas it sets.
public struct DatabaseConfiguration: Sendable {
    /// `PRAGMA journal_mode` values.
    public enum JournalMode: String, Sendable { case wal, delete, truncate, persist, memory, off }
    /// `PRAGMA synchronous` levels.
    public enum Synchronous: String, Sendable { case off, normal, full, extra }

    /// A file path, or ":memory:".
    public var path: String
    /// Open read-only; the file must exist and the journal mode is left as it is.
    public var readOnly: Bool
    /// How long to wait for another connection's lock before failing with "busy".
    public var busyTimeout: Duration
    /// The journal mode; WAL lets readers run while one writer commits.
    public var journalMode: JournalMode
    /// The sync level; FULL makes a committed transaction survive power loss.
    public var synchronous: Synchronous
    /// Whether to enforce FOREIGN KEY constraints.
    public var foreignKeys: Bool

    /// A configuration with safe defaults: WAL, synchronous FULL, foreign keys on, 5 s busy timeout.
    public init(
        path: String, readOnly: Bool = false, busyTimeout: Duration = .seconds(5),
        journalMode: JournalMode = .wal, synchronous: Synchronous = .full, foreignKeys: Bool = true
    ) {
        self.path = path
        self.readOnly = readOnly
        self.busyTimeout = busyTimeout
        self.journalMode = journalMode
        self.synchronous = synchronous
        self.foreignKeys = foreignKeys
    }
}

/// The raw connection, shared with statements so that one used after close() stops with a clear
/// message instead of touching a closed handle.
final class WALHook {
    let call: @Sendable (Int32) -> Bool
    init(_ call: @escaping @Sendable (Int32) -> Bool) { self.call = call }
}

final class Connection {
    private var raw: OpaquePointer?

    init(_ raw: OpaquePointer) { self.raw = raw }

    var isOpen: Bool { raw != nil }

    var handle: OpaquePointer {
        guard let raw else { preconditionFailure("database used after close()") }
        return raw
    }

    func checkOpen() { _ = handle }

    func close() {
        // close_v2 waits for statements the caller still holds, instead of failing with BUSY.
        if let raw { sqlite3_close_v2(raw) }
        raw = nil
    }
}

/// How `Database.transaction` begins: see SQLite's BEGIN documentation.
public enum TransactionKind: String, Sendable {
    case deferred = "DEFERRED", immediate = "IMMEDIATE", exclusive = "EXCLUSIVE"
}

/// A connection to one SQLite database, used from one executor or thread at a time.
///
/// ```swift
/// let db = try Database(path: "/var/lib/satchel/notes.db")
/// try db.transaction {
///     try db.run("INSERT INTO notes(id, body) VALUES (?, ?)", id, body)
/// }
/// let titles = try db.query("SELECT title FROM notes WHERE folder = ?", folder) { $0.string(at: 0) }
/// ```
public final class Database {
    /// The configuration this connection was opened with.
    public let configuration: DatabaseConfiguration
    private let connection: Connection
    private var cache: [String: Statement] = [:]
    private var savepointDepth = 0
    /// Keeps the WAL hook's closure alive while SQLite holds a pointer to it.
    private var walHook: WALHook?

    /// Opens (creating if needed) the database at `path` with the default configuration.
    public convenience init(path: String) throws {
        try self.init(configuration: DatabaseConfiguration(path: path))
    }

    /// Opens a database as `configuration` says and applies its pragmas.
    public init(configuration: DatabaseConfiguration) throws {
        self.configuration = configuration
        let access = configuration.readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        // NOMUTEX is safe because a Database is never shared between threads at once.
        let flags = access | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        if !configuration.readOnly, Self.isFilePath(configuration.path) {
            // Satchel's databases hold tokens and notes: a new file is its owner's only (0600),
            // and SQLite gives its -wal and -shm files the same mode (see `PrivateFiles`). If it
            // cannot be created, SQLite's open below says why, as it always has.
            try? PrivateFiles.create(file: configuration.path)
        }
        var raw: OpaquePointer?
        let rc = sqlite3_open_v2(configuration.path, &raw, flags, nil)
        guard rc == SQLITE_OK, let raw else {
            let reason = SQLiteError(code: rc, connection: raw, sql: nil).message
            sqlite3_close_v2(raw)  // SQLite may hand back a handle even when opening fails
            throw SQLiteError(code: rc, message: "\(reason) (path: \(configuration.path))", sql: nil)
        }
        connection = Connection(raw)
        do {
            try configure()
        } catch {
            close()
            throw error
        }
    }

    /// A plain file name, not ":memory:", "" (a temporary database) or a `file:` URI.
    static func isFilePath(_ path: String) -> Bool {
        !path.isEmpty && path != ":memory:" && !path.hasPrefix("file:")
    }

    private func configure() throws {
        sqlite3_extended_result_codes(connection.handle, 1)
        // Set before the pragmas, which may need a lock another connection holds.
        let (seconds, attoseconds) = configuration.busyTimeout.components
        let milliseconds = seconds > Int64(Int32.max) / 1000
            ? Int64(Int32.max) : max(0, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        sqlite3_busy_timeout(connection.handle, Int32(milliseconds))
        if !configuration.readOnly {
            try execute("PRAGMA journal_mode = \(configuration.journalMode.rawValue)")
        }
        // `matched(search)` for the client's search (see shim.h); a build of SQLite without
        // FTS5 has no full-text search to use it in.
        _ = satchel_fts5_register(connection.handle)
        try execute("""
            PRAGMA synchronous = \(configuration.synchronous.rawValue);
            PRAGMA foreign_keys = \(configuration.foreignKeys ? "ON" : "OFF");
            """)
    }

    deinit { close() }

    /// Finalizes cached statements and closes the connection; calling it twice is harmless.
    public func close() {
        cache.removeAll()
        if connection.isOpen, walHook != nil { sqlite3_wal_hook(connection.handle, nil, nil) }
        walHook = nil
        connection.close()
    }

    /// Calls `hook` after each commit with the number of pages in the write-ahead log, on the
    /// committing thread. This replaces SQLite's automatic checkpoints on this connection (see
    /// `Checkpointer`): the connection checkpoints (passively) only when `hook` returns true.
    public func onWALCommit(_ hook: @escaping @Sendable (Int32) -> Bool) {
        let box = WALHook(hook)
        walHook = box
        sqlite3_wal_hook(connection.handle, { context, db, _, pages in
            if Unmanaged<WALHook>.fromOpaque(context!).takeUnretainedValue().call(pages) {
                // What SQLite's automatic checkpoint does; its outcome is only an optimisation.
                _ = sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            }
            return SQLITE_OK
        }, Unmanaged.passUnretained(box).toOpaque())
    }

    /// Whether close() has not been called yet.
    public var isOpen: Bool { connection.isOpen }

    /// Prepares exactly one statement; use `execute(_:)` for scripts.
    public func prepare(_ sql: String) throws -> Statement {
        try sql.withCString { start in
            var tail: UnsafePointer<CChar>?
            guard let statement = try Statement.prepare(start, connection: connection, tail: &tail) else {
                throw SQLiteError.misuse("no SQL statement", sql: sql)
            }
            var rest = tail
            if let extra = rest, try Statement.prepare(extra, connection: connection, tail: &rest) != nil {
                throw SQLiteError.misuse("more than one statement: use execute(_:)", sql: sql)
            }
            return statement
        }
    }

    /// A prepared statement for `sql`, reset and cleared, reused across calls with the same text.
    ///
    /// If the cached statement is still being stepped (a query inside another query's closure),
    /// a fresh uncached one is returned so the outer loop is not rewound.
    public func cachedStatement(_ sql: String) throws -> Statement {
        if let statement = cache[sql] {
            if !statement.isBusy {
                statement.reset()
                statement.clearBindings()
                return statement
            }
            return try prepare(sql)
        }
        let statement = try prepare(sql)
        cache[sql] = statement
        return statement
    }

    /// Runs every statement in `sql`, discarding any rows. Takes no arguments: bind values with `run`.
    public func execute(_ sql: String) throws {
        try sql.withCString { start in
            var next: UnsafePointer<CChar>? = start
            while let current = next, current.pointee != 0 {
                guard let statement = try Statement.prepare(current, connection: connection, tail: &next)
                else { break }
                while try statement.step() {}
            }
        }
    }

    /// Runs one statement with `arguments` bound to ?1...?n and returns the rows it changed.
    @discardableResult
    public func run(_ sql: String, _ arguments: (any DatabaseValueConvertible)?...) throws -> Int {
        try run(sql, arguments: arguments)
    }

    /// Runs one statement with `arguments` bound to ?1...?n and returns the rows it changed.
    @discardableResult
    public func run(_ sql: String, arguments: [(any DatabaseValueConvertible)?]) throws -> Int {
        let statement = try cachedStatement(sql)
        // Reset at once so the statement gives up its locks and read snapshot.
        defer { statement.reset() }
        try statement.bind(arguments)
        let before = sqlite3_total_changes64(connection.handle)
        while try statement.step() {}
        // sqlite3_changes keeps the last INSERT/UPDATE/DELETE's count through DDL and SELECTs.
        return sqlite3_total_changes64(connection.handle) == before ? 0 : changes
    }

    /// Runs a query and maps each row; `Row` is valid only inside `map`.
    @discardableResult
    public func query<T>(
        _ sql: String, _ arguments: (any DatabaseValueConvertible)?..., map: (Row) throws -> T
    ) throws -> [T] {
        try query(sql, arguments: arguments, map: map)
    }

    /// Runs a query and maps each row; `Row` is valid only inside `map`.
    @discardableResult
    public func query<T>(
        _ sql: String, arguments: [(any DatabaseValueConvertible)?], map: (Row) throws -> T
    ) throws -> [T] {
        let statement = try cachedStatement(sql)
        defer { statement.reset() }
        try statement.bind(arguments)
        var results: [T] = []
        while try statement.step() { results.append(try map(statement.row)) }
        return results
    }

    /// Runs a query and hands each row to `body` until it returns false; `Row` is valid only
    /// inside `body`. For reads that stop early (by size) without loading the rest.
    public func scan(_ sql: String, arguments: [(any DatabaseValueConvertible)?], _ body: (Row) throws -> Bool) throws {
        let statement = try cachedStatement(sql)
        defer { statement.reset() }
        try statement.bind(arguments)
        while try statement.step() {
            if try !body(statement.row) { return }
        }
    }

    /// The rowid of the last successful INSERT on this connection.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(connection.handle) }

    /// The rows changed by the last INSERT, UPDATE or DELETE on this connection.
    public var changes: Int { Int(sqlite3_changes(connection.handle)) }

    /// Whether a transaction is open on this connection.
    public var isInTransaction: Bool { sqlite3_get_autocommit(connection.handle) == 0 }

    /// Runs `body` in a transaction: commits if it returns, rolls back and rethrows if it throws.
    ///
    /// The default is IMMEDIATE because in WAL mode a DEFERRED transaction that reads and then
    /// writes can fail with "busy" at once, without waiting for the busy timeout. Inside another
    /// transaction this becomes a savepoint and `kind` is ignored.
    @discardableResult
    public func transaction<T>(_ kind: TransactionKind = .immediate, _ body: () throws -> T) throws -> T {
        if isInTransaction { return try savepoint(body) }
        try run("BEGIN \(kind.rawValue)")
        do {
            let result = try body()
            try run("COMMIT")
            return result
        } catch {
            // SQLite rolls back by itself after some errors (full disk, I/O); a second ROLLBACK would fail.
            if isInTransaction { _ = try? run("ROLLBACK") }
            throw error
        }
    }

    private func savepoint<T>(_ body: () throws -> T) throws -> T {
        savepointDepth += 1
        defer { savepointDepth -= 1 }
        let name = "satchel_\(savepointDepth)"
        try run("SAVEPOINT \(name)")
        do {
            let result = try body()
            try run("RELEASE \(name)")
            return result
        } catch {
            if isInTransaction {
                _ = try? run("ROLLBACK TO \(name)")
                _ = try? run("RELEASE \(name)")
            }
            throw error
        }
    }
}

@available(*, unavailable, message: "a Database is used from one executor or thread at a time")
extension Database: Sendable {}
