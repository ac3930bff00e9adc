import CSQLite

/// A value as SQLite stores it.
public enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A Swift value that can be bound to a statement parameter.
public protocol DatabaseValueConvertible {
    /// The value to bind.
    var sqlValue: SQLValue { get }
}

extension SQLValue: DatabaseValueConvertible {
    public var sqlValue: SQLValue { self }
}
extension Int64: DatabaseValueConvertible {
    public var sqlValue: SQLValue { .integer(self) }
}
extension Int: DatabaseValueConvertible {
    public var sqlValue: SQLValue { .integer(Int64(self)) }
}
extension Double: DatabaseValueConvertible {
    public var sqlValue: SQLValue { .real(self) }
}
extension String: DatabaseValueConvertible {
    public var sqlValue: SQLValue { .text(self) }
}
extension Bool: DatabaseValueConvertible {
    public var sqlValue: SQLValue { .integer(self ? 1 : 0) }
}
extension Array: DatabaseValueConvertible where Element == UInt8 {
    public var sqlValue: SQLValue { .blob(self) }
}
extension Optional: DatabaseValueConvertible where Wrapped: DatabaseValueConvertible {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

// SQLITE_TRANSIENT is a macro Swift cannot import: it tells SQLite to copy the bytes at once.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A prepared statement. Parameters are numbered from 1, result columns from 0, as in SQLite.
public final class Statement {
    /// The SQL text, without bound values.
    public let sql: String
    private let handle: OpaquePointer
    private let connection: Connection
    private var hasRow = false
    // Bumped whenever the current row changes, so a stale `Row` is caught instead of read.
    private(set) var generation: UInt64 = 0

    /// Prepares the first statement at `text`; nil when only whitespace or comments remain.
    static func prepare(
        _ text: UnsafePointer<CChar>, connection: Connection, tail: inout UnsafePointer<CChar>?
    ) throws -> Statement? {
        var handle: OpaquePointer?
        let db = connection.handle
        let rc = sqlite3_prepare_v2(db, text, -1, &handle, &tail)
        guard rc == SQLITE_OK else {
            throw SQLiteError(code: rc, connection: db, sql: String(cString: text))
        }
        return handle.map { Statement(handle: $0, connection: connection) }
    }

    private init(handle: OpaquePointer, connection: Connection) {
        self.handle = handle
        self.connection = connection
        self.sql = String(cString: sqlite3_sql(handle))
    }

    deinit { sqlite3_finalize(handle) }

    /// Binds one value to the parameter at `index` (1-based); `nil` binds NULL.
    public func bind(_ value: (any DatabaseValueConvertible)?, at index: Int) throws {
        connection.checkOpen()
        let i = Int32(index)
        let rc: Int32
        switch value?.sqlValue ?? .null {
        case .null: rc = sqlite3_bind_null(handle, i)
        case .integer(let v): rc = sqlite3_bind_int64(handle, i, v)
        case .real(let v): rc = sqlite3_bind_double(handle, i, v)
        case .text(let v):
            rc = v.withCString {
                sqlite3_bind_text64(handle, i, $0, UInt64(v.utf8.count), transient, UInt8(SQLITE_UTF8))
            }
        case .blob(let v) where v.isEmpty:
            // A NULL pointer would bind NULL, not an empty blob.
            rc = sqlite3_bind_zeroblob(handle, i, 0)
        case .blob(let v):
            rc = v.withUnsafeBytes {
                sqlite3_bind_blob64(handle, i, $0.baseAddress, UInt64($0.count), transient)
            }
        }
        guard rc == SQLITE_OK else { throw SQLiteError(code: rc, connection: connection.handle, sql: sql) }
    }

    /// Resets the statement and binds `values` to parameters 1...n; the count must match exactly.
    public func bind(_ values: [(any DatabaseValueConvertible)?]) throws {
        reset()
        clearBindings()
        let expected = Int(sqlite3_bind_parameter_count(handle))
        guard values.count == expected else {
            throw SQLiteError(
                code: SQLITE_RANGE, message: "expected \(expected) arguments, got \(values.count)", sql: sql)
        }
        for (offset, value) in values.enumerated() { try bind(value, at: offset + 1) }
    }

    /// Sets every parameter back to NULL.
    public func clearBindings() {
        connection.checkOpen()
        sqlite3_clear_bindings(handle)
    }

    /// Runs the statement to its next row; returns false when it is done.
    public func step() throws -> Bool {
        connection.checkOpen()
        generation &+= 1
        let rc = sqlite3_step(handle)
        hasRow = rc == SQLITE_ROW
        guard rc == SQLITE_ROW || rc == SQLITE_DONE else {
            throw SQLiteError(code: rc, connection: connection.handle, sql: sql)
        }
        return hasRow
    }

    /// Rewinds the statement, keeping its bindings, and releases the locks it held.
    public func reset() {
        connection.checkOpen()
        generation &+= 1
        hasRow = false
        // The return value repeats the last step() error, which was already thrown.
        sqlite3_reset(handle)
    }

    /// Whether the statement is between its first step() and its end or reset().
    var isBusy: Bool { sqlite3_stmt_busy(handle) != 0 }

    /// The number of result columns.
    public var columnCount: Int { Int(sqlite3_column_count(handle)) }

    /// The name of the result column at `column`.
    public func columnName(at column: Int) -> String {
        precondition(column >= 0 && column < columnCount, "column \(column) out of range")
        return String(cString: sqlite3_column_name(handle, Int32(column)))
    }

    /// The current row, valid until the next step() or reset().
    public var row: Row { Row(statement: self, generation: generation) }

    private func checked(_ column: Int) -> Int32 {
        precondition(hasRow, "no current row: call step() and check that it returned true")
        precondition(column >= 0 && column < columnCount, "column \(column) out of range")
        return Int32(column)
    }

    /// The column as an integer, converted by SQLite's rules (NULL reads as 0).
    public func int64(at column: Int) -> Int64 { sqlite3_column_int64(handle, checked(column)) }
    /// The column as an Int, converted by SQLite's rules (NULL reads as 0).
    public func int(at column: Int) -> Int { Int(int64(at: column)) }
    /// The column as a Bool: any non-zero integer is true.
    public func bool(at column: Int) -> Bool { int64(at: column) != 0 }
    /// The column as a Double, converted by SQLite's rules (NULL reads as 0).
    public func double(at column: Int) -> Double { sqlite3_column_double(handle, checked(column)) }
    /// Whether the column is NULL.
    public func isNull(at column: Int) -> Bool { sqlite3_column_type(handle, checked(column)) == SQLITE_NULL }

    /// The column as UTF-8 text (NULL reads as "").
    public func string(at column: Int) -> String {
        let c = checked(column)
        // Text first, then its length: SQLite's documented order for a conversion to happen once.
        guard let text = sqlite3_column_text(handle, c) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, c))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    /// The column's bytes (NULL reads as []).
    public func blob(at column: Int) -> [UInt8] {
        let c = checked(column)
        guard let bytes = sqlite3_column_blob(handle, c) else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(handle, c))))
    }

    /// The column as stored, with its storage class.
    public func value(at column: Int) -> SQLValue {
        switch sqlite3_column_type(handle, checked(column)) {
        case SQLITE_INTEGER: .integer(int64(at: column))
        case SQLITE_FLOAT: .real(double(at: column))
        case SQLITE_TEXT: .text(string(at: column))
        case SQLITE_BLOB: .blob(blob(at: column))
        default: .null
        }
    }
}

@available(*, unavailable, message: "a Statement belongs to its Database's executor")
extension Statement: Sendable {}

/// The current row of a query, valid only while its statement stays on that row.
public struct Row {
    private let statement: Statement
    private let generation: UInt64

    init(statement: Statement, generation: UInt64) {
        self.statement = statement
        self.generation = generation
    }

    private var current: Statement {
        precondition(statement.generation == generation, "Row used after its statement moved on")
        return statement
    }

    /// The number of columns.
    public var columnCount: Int { current.columnCount }
    /// The name of the column at `column`.
    public func columnName(at column: Int) -> String { current.columnName(at: column) }
    /// The column as an integer (NULL reads as 0).
    public func int64(at column: Int) -> Int64 { current.int64(at: column) }
    /// The column as an Int (NULL reads as 0).
    public func int(at column: Int) -> Int { current.int(at: column) }
    /// The column as a Bool.
    public func bool(at column: Int) -> Bool { current.bool(at: column) }
    /// The column as a Double (NULL reads as 0).
    public func double(at column: Int) -> Double { current.double(at: column) }
    /// The column as text (NULL reads as "").
    public func string(at column: Int) -> String { current.string(at: column) }
    /// The column's bytes (NULL reads as []).
    public func blob(at column: Int) -> [UInt8] { current.blob(at: column) }
    /// Whether the column is NULL.
    public func isNull(at column: Int) -> Bool { current.isNull(at: column) }
    /// The column as stored.
    public func value(at column: Int) -> SQLValue { current.value(at: column) }
}
