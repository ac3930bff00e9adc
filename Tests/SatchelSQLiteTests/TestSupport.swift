import Foundation
import SatchelSQLite

/// Runs `body` with a database path in a fresh directory, removed afterwards with its -wal and -shm.
func withTemporaryPath<T>(_ body: (String) throws -> T) throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("satchel-sqlite-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory.appendingPathComponent("test.db").path)
}

/// Runs `body` with a freshly opened database in a temporary directory.
func withTemporaryDatabase<T>(_ body: (Database) throws -> T) throws -> T {
    try withTemporaryPath { path in try body(try Database(path: path)) }
}

extension Database {
    /// The single integer a query such as `SELECT count(*)` returns.
    func integer(_ sql: String, _ arguments: (any DatabaseValueConvertible)?...) throws -> Int64? {
        try query(sql, arguments: arguments) { $0.int64(at: 0) }.first
    }
}

struct Boom: Error, Equatable {}
