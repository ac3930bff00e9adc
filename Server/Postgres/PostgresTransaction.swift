import Logging
public import PostgresNIO
public import SatchelServerCore

/// Transactions and savepoints on one connection, throwing the body's own error (postgres-nio's
/// `withTransaction` wraps it, and a `StoreError` must reach the caller as it was thrown).
enum PostgresTransaction {
    /// `BEGIN`, `body`, `COMMIT`; `ROLLBACK` if `body` throws, or when `rollback` is set (a dry run).
    static func run<T>(
        _ connection: PostgresConnection, logger: Logger, begin: PostgresQuery = "BEGIN", rollback: Bool = false,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await connection.query(begin, logger: logger)
        let value: T
        do {
            value = try await body(connection)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
        try await connection.query(rollback ? "ROLLBACK" : "COMMIT", logger: logger)
        return value
    }

    /// `body` in a savepoint: on a throw only its own writes are undone, and the transaction
    /// (aborted by the failed statement) can go on.
    static func savepoint<T>(_ connection: PostgresConnection, logger: Logger, _ body: () async throws -> T) async throws -> T {
        try await connection.query("SAVEPOINT push", logger: logger)
        let value: T
        do {
            value = try await body()
        } catch {
            try await connection.query("ROLLBACK TO SAVEPOINT push", logger: logger)
            try await connection.query("RELEASE SAVEPOINT push", logger: logger)
            throw error
        }
        try await connection.query("RELEASE SAVEPOINT push", logger: logger)
        return value
    }
}

extension PostgresConnection {
    /// Every row of `query`, read to the end.
    @discardableResult
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        var rows: [PostgresRow] = []
        for try await row in try await self.query(query, logger: logger) { rows.append(row) }
        return rows
    }
}

extension PostgresClient {
    /// Every row of `query`, read to the end, on any connection of the pool.
    @discardableResult
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        var rows: [PostgresRow] = []
        for try await row in try await self.query(query, logger: logger) { rows.append(row) }
        return rows
    }
}

/// How the server core reads PostgreSQL's errors: class 53 (insufficient resources: disk full,
/// out of memory) is a full disk to the operator; the description names the SQLSTATE and the
/// server's message, never a bound value (postgres-nio's own description hides everything).
extension PSQLError: BackendFailure {
    public var isDiskFull: Bool { sqlState == "53100" }
    public var logDescription: String {
        guard let state = sqlState else { return "PostgreSQL: \(code)" }
        return "PostgreSQL \(state): \(serverInfo?[.message] ?? "")"
    }

    var sqlState: String? { serverInfo?[.sqlState] }
    var isUniqueViolation: Bool { sqlState == "23505" }
}

/// Bytes as PostgreSQL's `bytea` takes and gives them.
extension Array where Element == UInt8 {
    var bytea: ByteBuffer { ByteBuffer(bytes: self) }
    init(bytea: ByteBuffer) { self = Array(bytea.readableBytesView) }
}
