/// One schema change, applied once, in its own transaction.
public struct Migration: Sendable {
    /// The schema version this migration brings the database to; versions only grow.
    public let version: Int
    /// A short human name, shown in errors.
    public let name: String
    let apply: @Sendable (Database) throws -> Void

    /// A migration that runs an SQL script.
    public init(version: Int, name: String, sql: String) {
        self.init(version: version, name: name) { try $0.execute(sql) }
    }

    /// A migration that runs Swift code, for changes a script cannot express.
    public init(version: Int, name: String, apply: @escaping @Sendable (Database) throws -> Void) {
        self.version = version
        self.name = name
        self.apply = apply
    }
}

/// Brings a database's schema up to date, recording the version in `PRAGMA user_version`.
///
/// ```swift
/// let migrator = Migrator([
///     Migration(version: 1, name: "notes", sql: "CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT)"),
/// ])
/// try migrator.migrate(db)
/// ```
public struct Migrator: Sendable {
    /// The migrations, in ascending version order.
    public let migrations: [Migration]

    /// A migrator over `migrations`, whose versions must be positive and strictly ascending.
    public init(_ migrations: [Migration]) {
        for (previous, next) in zip([0] + migrations.map(\.version), migrations) {
            precondition(next.version > previous, "migration versions must be positive and ascending")
        }
        self.migrations = migrations
    }

    /// The newest version this code knows.
    public var latestVersion: Int { migrations.last?.version ?? 0 }

    /// The version recorded in `db`; 0 for a new database.
    public static func version(of db: Database) throws -> Int {
        try db.query("PRAGMA user_version") { $0.int(at: 0) }.first ?? 0
    }

    /// Applies every pending migration, each in its own transaction, and returns their versions.
    ///
    /// Throws `MigrationError` named "database_too_new" without changing anything if `db` was
    /// written by newer code, and "migration_failed" if a migration fails; that migration is rolled
    /// back and the ones before it stay applied.
    @discardableResult
    public func migrate(_ db: Database) throws -> [Int] {
        let start = try Self.version(of: db)
        try checkKnown(start)
        var applied: [Int] = []
        for migration in migrations where migration.version > start {
            do {
                let ran = try db.transaction(.immediate) {
                    // Another process may have migrated between our read and our write lock.
                    let current = try Self.version(of: db)
                    try checkKnown(current)
                    guard current < migration.version else { return false }
                    try migration.apply(db)
                    try db.execute("PRAGMA user_version = \(migration.version)")
                    return true
                }
                if ran { applied.append(migration.version) }
            } catch let error as MigrationError {
                throw error
            } catch {
                throw MigrationError(
                    name: "migration_failed",
                    description: """
                        migration \(migration.version) "\(migration.name)" failed and was rolled back; \
                        the database stays at version \((try? Self.version(of: db)) ?? -1): \(error)
                        """,
                    underlying: error)
            }
        }
        return applied
    }

    private func checkKnown(_ version: Int) throws {
        guard version > latestVersion else { return }
        throw MigrationError(
            name: "database_too_new",
            description: """
                the database is at schema version \(version) but this build knows only up to \
                \(latestVersion); it was written by a newer Satchel: upgrade, or restore a backup \
                made by this version
                """,
            underlying: nil)
    }
}

/// Why `Migrator.migrate(_:)` stopped.
public struct MigrationError: Error, CustomStringConvertible, Sendable {
    /// A short stable name: "database_too_new" or "migration_failed".
    public let name: String
    /// What happened and what to do about it.
    public let description: String
    /// The error the failing migration threw, if any.
    public let underlying: (any Error)?
}
