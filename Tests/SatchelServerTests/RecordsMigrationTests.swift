import Foundation
import SatchelProtocol
import SatchelSQLite
import SatchelTestSupport
import SatchelTesting
import Testing
@testable import SatchelServerCore
@testable import SatchelServerSQLite

/// Upgrading a populated database: migration 5 rebuilds `records` as a rowid table and must
/// keep every state, and the store must go on serving and writing them.
@Suite struct RecordsMigrationTests {
    @Test func aVersion4StoreKeepsItsRecordsThroughMigration5() async throws {
        let dir = TemporaryDirectory()
        let path = dir.file("old.sqlite")
        let key = RecordKey(space: "mission", collection: .notes, record: "n1")
        var w = DeviceWriter("d-ana")
        let create = w.createNote("n1", title: "from version 4", body: "kept across the upgrade")
        // Build a version-4 database with the store of that time's schema, holding a note as
        // the change-log algorithm writes it (rows as they were then).
        do {
            let db = try Database(configuration: DatabaseConfiguration(path: path))
            _ = try Migrator(Array(SQLiteServerStore.migrator.migrations.prefix(4))).migrate(db)
            try db.run("INSERT INTO spaces (id, created_at) VALUES ('mission', 1)")
            var memory = ChangeLog(schema: .standard)
            let result = try memory.applyMutation(create)
            #expect(result.status == .applied)
            try db.transaction {
                try db.run("INSERT INTO changes (version, space, data, at) VALUES (1, 'mission', ?, 1)", memory.changes[0].wireBytes)
                try db.run("INSERT INTO records (space, collection, record, version, state) VALUES ('mission', 'notes', 'n1', 1, ?)", memory.records[key]!.wireBytes)
                try db.run("INSERT INTO mutations (id, device, space, result) VALUES (?, 'd-ana', 'mission', ?)", create.id.rawValue, result.wireBytes)
            }
            #expect(try db.query("PRAGMA user_version") { $0.int(at: 0) } == [4])
            db.close()
        }
        let store = try SQLiteServerStore(path: path)
        let state = try #require(try await store.record(key))
        #expect(state.values["title"] == .string("from version 4") && state.version == 1)
        let snapshot = try await store.snapshot(space: "mission", after: 0, limit: 10)
        #expect(snapshot.encodedChanges.count == 1 && snapshot.cursor == 1)
        let patch = w.mutation(.patch, key, base: 1, ["title": .set(.string("after the upgrade"))])
        #expect(try await store.push([patch]).first?.version == 2)
        #expect(try await store.record(key)?.values["title"] == .string("after the upgrade"))
        #expect(try await store.records(in: "mission", collection: .notes).count == 1)
        await store.close()
    }
}
