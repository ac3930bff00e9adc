import Foundation
import SatchelSQLite
import Testing

@Suite struct DatabaseTests {
    @Test func opensInWALWithDurablePragmasAndCloses() throws {
        try withTemporaryPath { path in
            let db = try Database(path: path)
            #expect(try db.query("PRAGMA journal_mode") { $0.string(at: 0) } == ["wal"])
            #expect(try db.integer("PRAGMA synchronous") == 2)  // FULL
            #expect(try db.integer("PRAGMA foreign_keys") == 1)
            #expect(try db.integer("PRAGMA busy_timeout") == 5000)
            try db.execute("CREATE TABLE t(x); INSERT INTO t VALUES (42);")
            db.close()
            #expect(!db.isOpen)
            db.close()  // a second close is harmless

            let reopened = try Database(path: path)
            #expect(try reopened.integer("SELECT x FROM t") == 42)
        }
    }

    @Test func configurationIsHonoured() throws {
        try withTemporaryPath { path in
            let db = try Database(configuration: DatabaseConfiguration(
                path: path, busyTimeout: .milliseconds(250), journalMode: .delete,
                synchronous: .normal, foreignKeys: false))
            #expect(try db.query("PRAGMA journal_mode") { $0.string(at: 0) } == ["delete"])
            #expect(try db.integer("PRAGMA synchronous") == 1)
            #expect(try db.integer("PRAGMA foreign_keys") == 0)
            #expect(try db.integer("PRAGMA busy_timeout") == 250)
        }
        let memory = try Database(path: ":memory:")
        try memory.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        #expect(try memory.query("PRAGMA journal_mode") { $0.string(at: 0) } == ["memory"])
        #expect(try memory.integer("SELECT count(*) FROM t") == 1)
    }

    @Test func readOnlyConnectionRejectsWrites() throws {
        try withTemporaryPath { path in
            try Database(path: path).execute("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            let db = try Database(configuration: DatabaseConfiguration(path: path, readOnly: true))
            #expect(try db.integer("SELECT count(*) FROM t") == 1)
            let error = try #require(throws: SQLiteError.self) { try db.run("INSERT INTO t VALUES (2)") }
            #expect(error.name == "readonly")
        }
    }

    @Test func missingDirectoryFailsWithCantOpen() throws {
        let path = "/nonexistent-\(UUID().uuidString)/test.db"
        let error = try #require(throws: SQLiteError.self) { try Database(path: path) }
        #expect(error.name == "cantopen")
        #expect(error.description.contains(path))
    }

    @Test(arguments: [
        SQLValue.null, .integer(0), .integer(Int64.min), .integer(Int64.max), .real(-0.5), .real(1e300),
        .text(""), .text("héllo wörld 🌍 日本語"), .text("nul\u{0}inside"), .blob([]), .blob([0, 255, 0, 1]),
    ])
    func valueRoundTripsWithItsStorageClass(_ value: SQLValue) throws {
        try withTemporaryDatabase { db in
            try db.execute("CREATE TABLE v(x)")  // no affinity, so SQLite keeps what it is given
            try db.run("INSERT INTO v VALUES (?)", value)
            #expect(try db.query("SELECT x FROM v") { $0.value(at: 0) } == [value])
            #expect(try db.query("SELECT x IS NULL FROM v") { $0.bool(at: 0) } == [value == .null])
        }
    }

    @Test func bindsAndReadsSwiftTypes() throws {
        try withTemporaryDatabase { db in
            try db.execute("CREATE TABLE v(i, l, d, s, b, t, f, n, o)")
            let missing: String? = nil
            try db.run(
                "INSERT INTO v VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                -7, Int64(1) << 40, 2.5, "ünïcode ✓", [UInt8]([1, 2, 3]), true, false, nil, missing)
            let rows: [Void] = try db.query("SELECT * FROM v") { row in
                #expect(row.columnCount == 9)
                #expect(row.columnName(at: 3) == "s")
                #expect(row.int(at: 0) == -7)
                #expect(row.int64(at: 1) == 1 << 40)
                #expect(row.double(at: 2) == 2.5)
                #expect(row.string(at: 3) == "ünïcode ✓")
                #expect(row.blob(at: 4) == [1, 2, 3])
                #expect(row.bool(at: 5) && !row.bool(at: 6))
                #expect(row.isNull(at: 7) && row.isNull(at: 8) && !row.isNull(at: 4))
                // NULL reads as the type's zero, as SQLite converts it.
                #expect(row.int64(at: 7) == 0 && row.string(at: 7) == "" && row.blob(at: 7) == [])
            }
            #expect(rows.count == 1)
        }
    }

    @Test func emptyBlobAndEmptyStringAreNotNull() throws {
        try withTemporaryDatabase { db in
            try db.execute("CREATE TABLE v(b, s)")
            try db.run("INSERT INTO v VALUES (?, ?)", [UInt8](), "")
            #expect(try db.query("SELECT typeof(b), typeof(s) FROM v") { [$0.string(at: 0), $0.string(at: 1)] }
                == [["blob", "text"]])
        }
    }

    @Test func statementStepsBindsAndResets() throws {
        try withTemporaryDatabase { db in
            try db.execute("CREATE TABLE t(x INTEGER)")
            let insert = try db.prepare("INSERT INTO t VALUES (?1)")
            for x in 1...3 {
                insert.reset()
                try insert.bind(x, at: 1)
                #expect(try insert.step() == false)
                #expect(db.lastInsertRowID == Int64(x))
            }
            let select = try db.prepare("SELECT x, x * 10 AS tenfold FROM t WHERE x >= ? ORDER BY x")
            #expect(select.columnCount == 2 && select.columnName(at: 1) == "tenfold")
            try select.bind([2])
            var seen: [Int64] = []
            while try select.step() { seen.append(select.int64(at: 1)) }
            #expect(seen == [20, 30])
            select.reset()  // keeps the binding
            #expect(try select.step() && select.int64(at: 0) == 2)

            let wrongCount = try #require(throws: SQLiteError.self) { try select.bind([1, 2]) }
            #expect(wrongCount.name == "range")
            let outOfRange = try #require(throws: SQLiteError.self) { try select.bind(1, at: 5) }
            #expect(outOfRange.name == "range")
            #expect(try db.run("UPDATE t SET x = x + 1 WHERE x > ?", 1) == 2)
            #expect(db.changes == 2)
            #expect(try db.run("CREATE TABLE u(y)") == 0)  // not the UPDATE's count again
            #expect(try db.run("DELETE FROM t WHERE x > 100") == 0)
        }
    }

    @Test func prepareAcceptsOnlyOneStatement() throws {
        try withTemporaryDatabase { db in
            #expect(throws: SQLiteError.self) { try db.prepare("SELECT 1; SELECT 2") }
            #expect(throws: SQLiteError.self) { try db.prepare("  -- nothing here\n") }
            _ = try db.prepare("SELECT 1; -- a trailing comment is fine\n")
            let syntax = try #require(throws: SQLiteError.self) { try db.prepare("SELEC 1") }
            #expect(syntax.name == "error" && syntax.message.contains("syntax error"))
        }
    }

    @Test func statementCacheReusesPreparedStatements() throws {
        try withTemporaryDatabase { db in
            try db.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3);")
            let sql = "SELECT x FROM t WHERE x >= ? ORDER BY x"
            let first = try db.cachedStatement(sql)
            #expect(try db.cachedStatement(sql) === first)
            #expect(try db.cachedStatement("SELECT 1") !== first)
            // The same SQL inside its own query's closure must not rewind the outer loop.
            var calls = 0
            let pairs = try db.query(sql, 1) { row in
                calls += 1
                if calls > 3 { throw Boom() }  // a rewound outer loop would never end
                return (row.int64(at: 0), try db.query(sql, 3) { $0.int64(at: 0) })
            }
            #expect(pairs.map(\.0) == [1, 2, 3])
            #expect(pairs.map(\.1) == [[3], [3], [3]])
            #expect(try db.query(sql, 2) { $0.int64(at: 0) } == [2, 3])  // fresh bindings each time
            #expect(try db.cachedStatement(sql) === first)
        }
    }

    @Test func executeRunsScriptsAndNamesTheFailingStatement() throws {
        try withTemporaryDatabase { db in
            try db.execute("""
                -- a script with comments
                CREATE TABLE a(x);
                INSERT INTO a VALUES (1); /* and block comments */ INSERT INTO a VALUES (2);
                """)
            #expect(try db.integer("SELECT sum(x) FROM a") == 3)
            let error = try #require(throws: SQLiteError.self) {
                try db.execute("INSERT INTO a VALUES (3); INSERT INTO missing VALUES (4);")
            }
            #expect(error.message.contains("no such table: missing"))
            #expect(error.sql?.contains("INSERT INTO a") == false)
        }
    }

    @Test func transactionCommitsAndReturnsTheBodysValue() throws {
        try withTemporaryPath { path in
            let db = try Database(path: path)
            try db.execute("CREATE TABLE t(x)")
            let id = try db.transaction {
                try db.run("INSERT INTO t VALUES ('a')")
                #expect(db.isInTransaction)
                return db.lastInsertRowID
            }
            #expect(id == 1 && !db.isInTransaction)
            #expect(try Database(path: path).integer("SELECT count(*) FROM t") == 1)
        }
    }

    @Test func transactionRollsBackAndRethrows() throws {
        try withTemporaryDatabase { db in
            try db.execute("CREATE TABLE t(x)")
            #expect(throws: Boom()) {
                try db.transaction(.exclusive) {
                    try db.run("INSERT INTO t VALUES (1)")
                    throw Boom()
                }
            }
            #expect(!db.isInTransaction)
            #expect(try db.integer("SELECT count(*) FROM t") == 0)
        }
    }

    @Test func nestedTransactionRollsBackOnlyItself() throws {
        try withTemporaryDatabase { db in
            try db.execute("CREATE TABLE t(x)")
            try db.transaction(.deferred) {
                try db.run("INSERT INTO t VALUES ('outer')")
                #expect(throws: Boom()) {
                    try db.transaction {
                        try db.run("INSERT INTO t VALUES ('inner')")
                        throw Boom()
                    }
                }
                try db.transaction { try db.run("INSERT INTO t VALUES ('kept')") }
            }
            #expect(try db.query("SELECT x FROM t ORDER BY rowid") { $0.string(at: 0) } == ["outer", "kept"])
        }
    }

    @Test func constraintViolationIsNamedAndLeavesNoPartialChange() throws {
        try withTemporaryDatabase { db in
            try db.execute("CREATE TABLE tokens(id INTEGER PRIMARY KEY, secret TEXT NOT NULL UNIQUE)")
            let secret = "tok_live_5f3a9c-do-not-log"
            let error = try #require(throws: SQLiteError.self) {
                try db.transaction {
                    try db.run("INSERT INTO tokens(secret) VALUES (?)", "first")
                    try db.run("INSERT INTO tokens(secret) VALUES (?)", secret)
                    try db.run("INSERT INTO tokens(secret) VALUES (?)", secret)
                }
            }
            #expect(error.name == "constraint")
            #expect(error.isConstraintViolation && error.isUniqueViolation && !error.isBusy)
            #expect(error.sql == "INSERT INTO tokens(secret) VALUES (?)")
            #expect(error.description.contains("UNIQUE constraint failed: tokens.secret"))
            #expect(!error.description.contains(secret))
            #expect(try db.integer("SELECT count(*) FROM tokens") == 0)

            let notNull = try #require(throws: SQLiteError.self) {
                try db.run("INSERT INTO tokens(secret) VALUES (?)", nil)
            }
            #expect(notNull.isConstraintViolation && !notNull.isUniqueViolation)
        }
    }

    @Test func foreignKeysAreEnforced() throws {
        try withTemporaryDatabase { db in
            try db.execute("""
                CREATE TABLE folders(id INTEGER PRIMARY KEY);
                CREATE TABLE notes(id INTEGER PRIMARY KEY, folder INTEGER REFERENCES folders(id));
                """)
            let error = try #require(throws: SQLiteError.self) { try db.run("INSERT INTO notes VALUES (1, 99)") }
            #expect(error.name == "constraint" && !error.isUniqueViolation)
        }
    }

    @Test func largeBlobRoundTrips() throws {
        try withTemporaryDatabase { db in
            var state: UInt64 = 0x9E37_79B9_7F4A_7C15
            let blob = (0..<6_000_000).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return UInt8(truncatingIfNeeded: state >> 56)
            }
            try db.execute("CREATE TABLE files(data BLOB)")
            try db.run("INSERT INTO files VALUES (?)", blob)
            let read = try db.query("SELECT data, length(data) FROM files") { ($0.blob(at: 0), $0.int(at: 1)) }
            #expect(read.count == 1 && read[0].1 == blob.count)
            #expect(read.first?.0 == blob)
        }
    }
}
