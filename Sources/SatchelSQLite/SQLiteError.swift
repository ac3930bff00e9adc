import CSQLite

/// An error reported by SQLite: result codes, SQLite's message and the statement text, never bound values.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    /// The extended result code, such as 2067 for a UNIQUE constraint failure.
    public let extendedCode: Int32
    /// SQLite's message, such as "UNIQUE constraint failed: notes.id".
    public let message: String
    /// The SQL text that failed, if a statement was involved. Bound values are never included.
    public let sql: String?

    /// The primary result code, such as 5 for busy or 19 for constraint.
    public var code: Int32 { extendedCode & 0xff }

    /// A short stable name for logs and metrics: "busy", "constraint", "corrupt", "readonly", ...
    public var name: String {
        Self.names.indices.contains(Int(code)) ? Self.names[Int(code)] : "unknown"
    }

    /// Another connection holds the lock and the busy timeout ran out.
    public var isBusy: Bool { code == SQLITE_BUSY }
    /// The disk (or `max_page_count`) is full: the statement or commit failed and changed nothing.
    public var isFull: Bool { code == SQLITE_FULL }
    /// A UNIQUE, PRIMARY KEY, NOT NULL, CHECK or FOREIGN KEY constraint failed.
    public var isConstraintViolation: Bool { code == SQLITE_CONSTRAINT }
    /// A UNIQUE or PRIMARY KEY constraint failed: the row already exists.
    public var isUniqueViolation: Bool {
        // SQLITE_CONSTRAINT_UNIQUE and _PRIMARYKEY are expression macros Swift does not import.
        extendedCode == SQLITE_CONSTRAINT | (8 << 8) || extendedCode == SQLITE_CONSTRAINT | (6 << 8)
    }

    public var description: String {
        var text = "SQLite error \(name) (\(code)/\(extendedCode)): \(message)"
        if let sql {
            // A whole migration script can be long; the head is enough to find it.
            text += " [SQL: \(sql.count > 500 ? String(sql.prefix(500)) + "…" : sql)]"
        }
        return text
    }

    /// Reads the message from `connection` at once, before another call replaces it.
    init(code: Int32, connection: OpaquePointer?, sql: String?) {
        let message = connection.map { String(cString: sqlite3_errmsg($0)) }
        self.init(code: code, message: message ?? String(cString: sqlite3_errstr(code)), sql: sql)
    }

    init(code: Int32, message: String, sql: String?) {
        self.extendedCode = code
        self.message = message
        self.sql = sql
    }

    /// Misuse of this layer that SQLite itself would not catch, thrown with SQLite's own code.
    static func misuse(_ message: String, sql: String?) -> SQLiteError {
        SQLiteError(code: SQLITE_MISUSE, message: message, sql: sql)
    }

    // Indexed by primary result code (sqlite3.h, "Result Codes").
    private static let names = [
        "ok", "error", "internal", "perm", "abort", "busy", "locked", "nomem", "readonly",
        "interrupt", "ioerr", "corrupt", "notfound", "full", "cantopen", "protocol", "empty",
        "schema", "toobig", "constraint", "mismatch", "misuse", "nolfs", "auth", "format",
        "range", "notadb", "notice", "warning",
    ]
}
