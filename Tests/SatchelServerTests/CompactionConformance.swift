import Foundation
import SatchelProtocol
import SatchelSQLite
import SatchelTestSupport
import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite

/// Retention in the store contract: compaction keeps everything a device within the horizon
/// needs, snapshots rebuild a space from nothing, versions are never handed out twice, and
/// forced re-bootstraps are remembered until the device starts over.
@Suite struct CompactionConformanceTests {
    let dir = TemporaryDirectory()

    /// A space with history: 6 notes, 3 of them edited twice, 2 deleted.
    func storeWithHistory(_ backend: Backend) async throws -> (any ServerStore, DeviceWriter) {
        let store = try backend.make(dir).store
        try await store.createSpace("mission", now: 1)
        var w = DeviceWriter("d-ana")
        _ = try await store.push((1...6).map { w.createNote("n\($0)", body: "first body of note \($0)") })
        for round in 1...2 {
            for n in 1...3 {
                let key = RecordKey(space: "mission", collection: .notes, record: RecordID(unchecked: "n\(n)"))
                let base = try await store.record(key)!.version
                _ = try await store.push([w.mutation(.patch, key, base: base, ["title": .set(.string("edit \(round)"))])])
            }
        }
        for n in [5, 6] {
            let key = RecordKey(space: "mission", collection: .notes, record: RecordID(unchecked: "n\(n)"))
            _ = try await store.push([w.mutation(.delete, key, base: try await store.record(key)!.version, [:])])
        }
        return (store, w)
    }

    /// What a device holds after applying changes in order (nil values: deleted).
    static func apply(_ changes: [Change], to start: [RecordKey: [FieldName: Value]?] = [:]) throws -> [RecordKey: [FieldName: Value]?] {
        var held = start
        for c in changes {
            held[c.key] = try c.apply(to: c.previousVersion == 0 ? nil : (held[c.key] ?? nil))
        }
        return held
    }

    func pages(_ store: any ServerStore, snapshot: Bool, after: Version, limit: Int = 2) async throws -> (changes: [Change], cursor: Version) {
        var cursor = after
        var all: [Change] = []
        while true {
            let page = snapshot
                ? try await store.snapshot(space: "mission", after: cursor, limit: limit)
                : try await store.pull(space: "mission", after: cursor, limit: limit)
            all += try page.encodedChanges.map { try Change(wireBytes: $0) }
            cursor = page.cursor
            if !page.hasMore { return (all, cursor) }
        }
    }

    @Test(arguments: Backend.allCases)
    func compactionKeepsWhatDevicesWithinTheHorizonNeed(_ backend: Backend) async throws {
        let (store, _) = try await storeWithHistory(backend)
        let head = try await store.head(of: "mission").head
        #expect(head == 14)
        // A device that pulled up to version 9, and what it will need from there.
        let early = try await pages(store, snapshot: false, after: 0)
        let atNine = try Self.apply(early.changes.filter { $0.version <= 9 })
        let neededAfterNine = try await pages(store, snapshot: false, after: 9).changes
        let expected = try Self.apply(neededAfterNine, to: atNine)

        let dry = try await store.compact("mission", through: 9, dryRun: true)
        #expect(dry.dryRun && dry.horizon == 9 && dry.changes == 9 && dry.tombstones == 0)
        #expect(try await store.head(of: "mission").horizon == 0, "a dry run changed the horizon")
        #expect(try await pages(store, snapshot: false, after: 0).changes.count == early.changes.count, "a dry run dropped changes")

        let report = try await store.compact("mission", through: 9, dryRun: false)
        #expect(report == CompactionReport(space: "mission", previousHorizon: 0, horizon: 9, changes: 9, tombstones: 0, history: report.history, dryRun: false))
        #expect(try await store.head(of: "mission") == (head: 14, horizon: 9))
        // The device within the horizon gets exactly what it needed, and ends where the others are.
        let after = try await pages(store, snapshot: false, after: 9)
        #expect(after.changes == neededAfterNine && after.cursor == head)
        #expect(try Self.apply(after.changes, to: atNine) == expected)
        // A new device rebuilds the space from a snapshot in small pages: only live records.
        let snapshot = try await pages(store, snapshot: true, after: 0)
        #expect(snapshot.cursor == head)
        let live = try await store.records(in: "mission", collection: .notes).filter { !$0.value.deleted }.mapValues(\.values)
        #expect(try Self.apply(snapshot.changes).compactMapValues { $0 } == live)
        #expect(live.count == 4)
        await store.close()
    }

    @Test(arguments: Backend.allCases)
    func compactingThroughTheHeadDropsTombstonesAndNeverReusesAVersion(_ backend: Backend) async throws {
        let (store, writer) = try await storeWithHistory(backend)
        var w = writer
        #expect(try await store.records(in: "mission", collection: .notes).count == 6)
        let report = try await store.compact("mission", through: 14, dryRun: false)
        #expect(report.changes == 14 && report.tombstones == 2)
        #expect(try await store.records(in: "mission", collection: .notes).count == 4, "tombstones below the horizon stay")
        #expect(try await store.pull(space: "mission", after: 14, limit: 10).encodedChanges.isEmpty)
        #expect(try await store.head(of: "mission") == (head: 14, horizon: 14))
        // Reopened, the log still knows version 14 was handed out.
        await store.close()
        let reopened = try backend.make(dir).reopen()
        let result = try await reopened.push([w.createNote("n5", body: "a new note under an old id")])
        #expect(result.first?.version == 15 && result.first?.status == .applied)
        let change = try Change(wireBytes: try await reopened.pull(space: "mission", after: 14, limit: 10).encodedChanges[0])
        #expect(change.previousVersion == 0 && change.version == 15)
        await #expect { try await reopened.compact("mission", through: 99, dryRun: false) } throws: { ($0 as? StoreError)?.code == .beyondHead }
        await #expect { try await reopened.compact("nowhere", through: 1, dryRun: false) } throws: { ($0 as? StoreError)?.code == .unknownSpace }
        await reopened.close()
    }

    @Test(arguments: Backend.allCases)
    func retentionFindsTheNewestChangeWrittenBeforeACutoff(_ backend: Backend) async throws {
        let path = dir.file("retention.sqlite")
        let clock = Locked<Int64>(0)  // the store's wall clock, set by the test
        let store = try SQLiteServerStore(path: path, clock: { clock.value })
        _ = backend
        try await store.createSpace("mission", now: 1)
        var w = DeviceWriter("d-ana")
        clock.value = 1_000
        _ = try await store.push([w.createNote("a"), w.createNote("b")])
        clock.value = 5_000
        _ = try await store.push([w.createNote("c")])
        #expect(try await store.version(of: "mission", writtenBefore: 999) == 0)
        #expect(try await store.version(of: "mission", writtenBefore: 1_001) == 2)
        #expect(try await store.version(of: "mission", writtenBefore: 9_999) == 3)
        await store.close()
    }

    @Test(arguments: Backend.allCases)
    func forcedRebootstrapIsRememberedUntilCleared(_ backend: Backend) async throws {
        let (store, _) = try await storeWithHistory(backend)
        try await store.createUser("ana", now: 1)
        let device = try await store.redeemEnrollment(
            codeHash: try await { () async throws -> [UInt8] in
                try await store.createEnrollment(codeHash: [1, 2, 3], user: "ana", label: nil, expiresAt: 100, now: 1)
                return [1, 2, 3]
            }(), device: "d-ana", label: "phone", tokenHash: [9], client: nil, now: 2)
        #expect(try await store.resetRequested(device: device.id, space: "mission", clear: false) == false)
        try await store.requestReset(device: device.id, space: "mission", now: 3)
        #expect(try await store.resetRequested(device: device.id, space: "mission", clear: false))
        #expect(try await store.resetRequested(device: device.id, space: "mission", clear: true))
        #expect(try await store.resetRequested(device: device.id, space: "mission", clear: false) == false)
        await #expect { try await store.requestReset(device: "d-nobody", space: "mission", now: 3) } throws: { ($0 as? StoreError)?.code == .unknownDevice }
        await #expect { try await store.requestReset(device: device.id, space: "nowhere", now: 3) } throws: { ($0 as? StoreError)?.code == .unknownSpace }
        await store.close()
    }
}

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
