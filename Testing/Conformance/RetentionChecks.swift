public import SatchelProtocol
import SatchelServerCore

/// Retention: compaction keeps everything a device within the horizon needs, snapshots rebuild a
/// space from nothing, versions are never handed out twice, and forced re-bootstraps are
/// remembered until the device starts over.
extension StoreConformance {
    static let retention: [Check] = [
        check("compactionKeepsWhatDevicesWithinTheHorizonNeed", compactionKeepsWhatDevicesWithinTheHorizonNeed),
        check("compactingThroughTheHeadDropsTombstonesAndNeverReusesAVersion", compactingThroughTheHeadDropsTombstonesAndNeverReusesAVersion),
        check("retentionFindsTheNewestChangeWrittenBeforeACutoff", retentionFindsTheNewestChangeWrittenBeforeACutoff),
        check("forcedRebootstrapIsRememberedUntilCleared", forcedRebootstrapIsRememberedUntilCleared),
    ]

    /// A space with history: 6 notes, 3 of them edited twice, 2 deleted.
    static func storeWithHistory(_ db: any ConformanceDatabase) async throws -> (any ServerStore, DeviceWriter) {
        let store = try await db.open()
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
    public static func apply(_ changes: [Change], to start: [RecordKey: [FieldName: Value]?] = [:]) throws -> [RecordKey: [FieldName: Value]?] {
        var held = start
        for c in changes {
            held[c.key] = try c.apply(to: c.previousVersion == 0 ? nil : (held[c.key] ?? nil))
        }
        return held
    }

    static func pages(_ store: any ServerStore, snapshot: Bool, after: Version, limit: Int = 2) async throws -> (changes: [Change], cursor: Version) {
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

    @Sendable static func compactionKeepsWhatDevicesWithinTheHorizonNeed(_ db: any ConformanceDatabase) async throws {
        let (store, _) = try await storeWithHistory(db)
        let head = try await store.head(of: "mission").head
        try expect(head == 14)
        // A device that pulled up to version 9, and what it will need from there.
        let early = try await pages(store, snapshot: false, after: 0)
        let atNine = try Self.apply(early.changes.filter { $0.version <= 9 })
        let neededAfterNine = try await pages(store, snapshot: false, after: 9).changes
        let expected = try Self.apply(neededAfterNine, to: atNine)

        let dry = try await store.compact("mission", through: 9, dryRun: true)
        try expect(dry.dryRun && dry.horizon == 9 && dry.changes == 9 && dry.tombstones == 0)
        try expect(try await store.head(of: "mission").horizon == 0, "a dry run changed the horizon")
        try expect(try await pages(store, snapshot: false, after: 0).changes.count == early.changes.count, "a dry run dropped changes")

        let report = try await store.compact("mission", through: 9, dryRun: false)
        try expect(report == CompactionReport(space: "mission", previousHorizon: 0, horizon: 9, changes: 9, tombstones: 0, history: report.history, dryRun: false))
        try expect(try await store.head(of: "mission") == (head: 14, horizon: 9))
        // The device within the horizon gets exactly what it needed, and ends where the others are.
        let after = try await pages(store, snapshot: false, after: 9)
        try expect(after.changes == neededAfterNine && after.cursor == head)
        try expect(try Self.apply(after.changes, to: atNine) == expected)
        // A new device rebuilds the space from a snapshot in small pages: only live records.
        let snapshot = try await pages(store, snapshot: true, after: 0)
        try expect(snapshot.cursor == head)
        let live = try await store.records(in: "mission", collection: .notes).filter { !$0.value.deleted }.mapValues(\.values)
        try expect(try Self.apply(snapshot.changes).compactMapValues { $0 } == live)
        try expect(live.count == 4)
        await store.close()
    }

    @Sendable static func compactingThroughTheHeadDropsTombstonesAndNeverReusesAVersion(_ db: any ConformanceDatabase) async throws {
        let (store, writer) = try await storeWithHistory(db)
        var w = writer
        try expect(try await store.records(in: "mission", collection: .notes).count == 6)
        let report = try await store.compact("mission", through: 14, dryRun: false)
        try expect(report.changes == 14 && report.tombstones == 2)
        try expect(try await store.records(in: "mission", collection: .notes).count == 4, "tombstones below the horizon stay")
        try expect(try await store.pull(space: "mission", after: 14, limit: 10).encodedChanges.isEmpty)
        try expect(try await store.head(of: "mission") == (head: 14, horizon: 14))
        // Reopened, the log still knows version 14 was handed out.
        await store.close()
        let reopened = try await db.open()
        let result = try await reopened.push([w.createNote("n5", body: "a new note under an old id")])
        try expect(result.first?.version == 15 && result.first?.status == .applied)
        let change = try Change(wireBytes: try await reopened.pull(space: "mission", after: 14, limit: 10).encodedChanges[0])
        try expect(change.previousVersion == 0 && change.version == 15)
        try await expectThrows(.beyondHead) { try await reopened.compact("mission", through: 99, dryRun: false) }
        try await expectThrows(.unknownSpace) { try await reopened.compact("nowhere", through: 1, dryRun: false) }
        await reopened.close()
    }

    @Sendable static func retentionFindsTheNewestChangeWrittenBeforeACutoff(_ db: any ConformanceDatabase) async throws {
        let store = try await db.open()
        let clock = db.clock  // the store's wall clock, set by the check
        try await store.createSpace("mission", now: 1)
        var w = DeviceWriter("d-ana")
        clock.now = 1_000
        _ = try await store.push([w.createNote("a"), w.createNote("b")])
        clock.now = 5_000
        _ = try await store.push([w.createNote("c")])
        try expect(try await store.version(of: "mission", writtenBefore: 999) == 0)
        try expect(try await store.version(of: "mission", writtenBefore: 1_001) == 2)
        try expect(try await store.version(of: "mission", writtenBefore: 9_999) == 3)
        await store.close()
    }

    @Sendable static func forcedRebootstrapIsRememberedUntilCleared(_ db: any ConformanceDatabase) async throws {
        let (store, _) = try await storeWithHistory(db)
        try await store.createUser("ana", now: 1)
        let device = try await store.redeemEnrollment(
            codeHash: try await { () async throws -> [UInt8] in
                try await store.createEnrollment(codeHash: [1, 2, 3], user: "ana", label: nil, expiresAt: 100, now: 1)
                return [1, 2, 3]
            }(), device: "d-ana", label: "phone", tokenHash: [9], client: nil, now: 2)
        try expect(try await store.resetRequested(device: device.id, space: "mission", clear: false) == false)
        try await store.requestReset(device: device.id, space: "mission", now: 3)
        try expect(try await store.resetRequested(device: device.id, space: "mission", clear: false))
        try expect(try await store.resetRequested(device: device.id, space: "mission", clear: true))
        try expect(try await store.resetRequested(device: device.id, space: "mission", clear: false) == false)
        try await expectThrows(.unknownDevice) { try await store.requestReset(device: "d-nobody", space: "mission", now: 3) }
        try await expectThrows(.unknownSpace) { try await store.requestReset(device: device.id, space: "nowhere", now: 3) }
        await store.close()
    }
}
