import SatchelSQLite
import Testing

@Suite struct MigratorTests {
    static let base = [
        Migration(version: 1, name: "notes", sql: """
            CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT NOT NULL);
            CREATE TABLE applied(version INTEGER);
            INSERT INTO applied VALUES (1);
            """),
        Migration(version: 2, name: "note titles") { db in
            try db.run("ALTER TABLE notes ADD COLUMN title TEXT")
            try db.run("INSERT INTO applied VALUES (?)", 2)
        },
    ]

    @Test func appliesPendingMigrationsOnceAndRecordsTheVersion() throws {
        try withTemporaryPath { path in
            let migrator = Migrator(Self.base)
            #expect(migrator.latestVersion == 2)
            let db = try Database(path: path)
            #expect(try Migrator.version(of: db) == 0)
            #expect(try migrator.migrate(db) == [1, 2])
            #expect(try Migrator.version(of: db) == 2)
            #expect(try migrator.migrate(db) == [])
            db.close()

            let reopened = try Database(path: path)
            #expect(try migrator.migrate(reopened) == [])
            #expect(try reopened.query("SELECT version FROM applied ORDER BY version") { $0.int(at: 0) } == [1, 2])
            try reopened.run("INSERT INTO notes(id, body, title) VALUES ('n1', 'b', 't')")
        }
    }

    @Test func appliesOnlyMigrationsAddedLater() throws {
        try withTemporaryDatabase { db in
            try Migrator(Array(Self.base.prefix(1))).migrate(db)
            #expect(try Migrator.version(of: db) == 1)
            let later = Self.base + [Migration(version: 5, name: "tags", sql: "CREATE TABLE tags(name TEXT)")]
            #expect(try Migrator(later).migrate(db) == [2, 5])
            #expect(try db.query("SELECT version FROM applied ORDER BY version") { $0.int(at: 0) } == [1, 2])
            #expect(try Migrator.version(of: db) == 5)
        }
    }

    @Test func refusesADatabaseNewerThanTheCode() throws {
        try withTemporaryDatabase { db in
            try db.execute("CREATE TABLE future(x); PRAGMA user_version = 7;")
            let error = try #require(throws: MigrationError.self) { try Migrator(Self.base).migrate(db) }
            #expect(error.name == "database_too_new")
            #expect(error.description.contains("version 7") && error.description.contains("up to 2"))
            #expect(try Migrator.version(of: db) == 7)
            #expect(try db.integer("SELECT count(*) FROM sqlite_schema WHERE name = 'notes'") == 0)
        }
    }

    @Test func failedMigrationRollsBackAndKeepsEarlierOnes() throws {
        try withTemporaryDatabase { db in
            let broken = Self.base + [Migration(version: 3, name: "broken", sql: """
                CREATE TABLE half(x);
                INSERT INTO nowhere VALUES (1);
                """)]
            let error = try #require(throws: MigrationError.self) { try Migrator(broken).migrate(db) }
            #expect(error.name == "migration_failed")
            #expect(error.description.contains("migration 3 \"broken\"") && error.description.contains("version 2"))
            #expect((error.underlying as? SQLiteError)?.message.contains("no such table: nowhere") == true)
            #expect(try Migrator.version(of: db) == 2)
            #expect(try db.integer("SELECT count(*) FROM sqlite_schema WHERE name = 'half'") == 0)
            #expect(!db.isInTransaction)
        }
    }
}
