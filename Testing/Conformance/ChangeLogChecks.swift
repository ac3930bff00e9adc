import Foundation
import SatchelProtocol
import SatchelServerCore

/// Pushes, pulls and merges (`ChangeLogStore`).
extension StoreConformance {
    static let changeLog: [Check] = [
        check("pushIsIdempotentAndResultsKeepTheirOrder", pushIsIdempotentAndResultsKeepTheirOrder),
        check("aMutationIdIsItsDevicesAndACounterIsUsedOnce", aMutationIdIsItsDevicesAndACounterIsUsedOnce),
        check("writesAppliedAsWrittenAreMarkedKeptAndLeftOutOfTheirDevicesPulls", writesAppliedAsWrittenAreMarkedKeptAndLeftOutOfTheirDevicesPulls),
        check("pullPagesBySpaceWithCursorAndHead", pullPagesBySpaceWithCursorAndHead),
        check("operatorWritesBypassDeviceAccess", operatorWritesBypassDeviceAccess),
        check("mergesUseStoredHistory", mergesUseStoredHistory),
        check("everythingSurvivesReopening", everythingSurvivesReopening),
    ]

    @Sendable static func pushIsIdempotentAndResultsKeepTheirOrder(_ db: any ConformanceDatabase) async throws {
        let store = try await seeded(db)
        var w = DeviceWriter("d-1")
        let a = w.createNote("n1"), bad = w.mutation(.patch, RecordKey(space: "mission", collection: .notes, record: "missing"), base: 1, ["title": .set(.string("x"))]), b = w.createNote("n2")
        let first = try await store.push([a, bad, b])
        try expect(first.map(\.status) == [.applied, .rejected, .applied])
        try expect(first[1].rejection?.code == .recordNotFound)
        let again = try await store.push([a, bad, b])
        try expect(again == first)
        let page = try await store.pull(space: "mission", after: 0, limit: 100)
        try expect(page.encodedChanges.count == 2)
        await store.close()
    }

    @Sendable static func aMutationIdIsItsDevicesAndACounterIsUsedOnce(_ db: any ConformanceDatabase) async throws {
        let store = try await seeded(db)
        var ana = DeviceWriter("d-ana"), bob = DeviceWriter("d-bob")
        try expect(try await store.writeState(of: "d-ana") == nil)
        let mine = ana.createNote("n1")
        let told = try await store.push([mine])
        // Bob sends Ana's id (seen in a pull) with his own note: refused, never recorded.
        var stolen = bob.createNote("b1")
        stolen.id = mine.id
        let refused = try await store.push([stolen, stolen])
        try expect(refused.map { $0.rejection?.code } == [.mutationIDTaken, .mutationIDTaken])
        try expect(try await store.record(RecordKey(space: "mission", collection: .notes, record: "b1")) == nil)
        // Ana's retry still gets her first answer.
        try expect(try await store.push([mine]) == told)
        // A new id under a counter Ana already used: a copy of her device. Nothing stored.
        var copy = ana
        copy.counter -= 1
        var twin = copy.createNote("n2")
        twin.id = "copy-of-d-ana-m1"
        try expect(twin.counter == mine.counter && twin.id != mine.id)
        try expect(try await store.push([twin]).first?.rejection?.code == .deviceCopied)
        try expect(try await store.record(RecordKey(space: "mission", collection: .notes, record: "n2")) == nil)
        // A refused write leaves its counter free (older clients resend under it).
        var unknownNote = ana.mutation(.patch, RecordKey(space: "mission", collection: .notes, record: "missing"), base: 1, ["title": .set(.string("x"))])
        try expect(try await store.push([unknownNote]).first?.rejection?.code == .recordNotFound)
        unknownNote.id = "resent-under-the-same-counter"
        unknownNote.operation = Mutation.Operation.create
        try expect(try await store.push([unknownNote]).first?.status == .applied)
        // What hello reports: the highest counter stored from the device, with its clock.
        let later = ana.createNote("n3")
        _ = try await store.push([later])
        try expect(try await store.writeState(of: "d-ana") == DeviceWriteState(counter: later.counter, clock: later.clock, mutation: later.id))
        try expect(try await store.writeState(of: "d-bob") == nil)
        // Operator writes use no device counter.
        var first = DeviceWriter("operator"), second = DeviceWriter("operator")
        var o2 = second.createNote("o2")
        o2.id = "operator-second-load"
        _ = try await store.operatorWrite([first.createNote("o1"), o2])
        try expect(try await store.record(RecordKey(space: "mission", collection: .notes, record: "o2")) != nil)
        await store.close()
    }

    @Sendable static func writesAppliedAsWrittenAreMarkedKeptAndLeftOutOfTheirDevicesPulls(_ db: any ConformanceDatabase) async throws {
        let store = try await seeded(db)
        var ana = DeviceWriter("d-ana"), bob = DeviceWriter("d-bob")
        let n1 = RecordKey(space: "mission", collection: .notes, record: "n1")
        let first = try await store.push([ana.createNote("n1"), ana.mutation(.patch, n1, base: 1, ["title": .set(.string("Edited"))])])
        try expect(first.map(\.asWritten) == [true, true])
        // Bob's edit of an older version merges: not as written. Then his own new note is.
        let second = try await store.push([bob.mutation(.patch, n1, base: 1, ["body": .set(.text("Bob's body"))]), bob.createNote("n2")])
        try expect(second.map(\.status) == [.merged, .applied])
        try expect(second.map(\.asWritten) == [false, true])
        // A repeated push gets the same answers, flags included.
        try expect(try await store.push([ana.createNote("n3")]).map(\.asWritten) == [true])
        ana.counter -= 1
        try expect(try await store.push([ana.createNote("n3")]).map(\.asWritten) == [true])

        func versions(_ page: EncodedPage) throws -> [Version] { try page.encodedChanges.map { try Change(wireBytes: $0).version } }
        try expect(try versions(await store.pull(space: "mission", after: 0, limit: 10)) == [1, 2, 3, 4, 5])
        // Ana's pulls leave out her as-written changes but still end at the head.
        let forAna = try await store.pull(space: "mission", after: 0, limit: 10, omitting: "d-ana")
        try expect(try versions(forAna) == [3, 4])
        try expect(forAna.cursor == 5 && !forAna.hasMore)
        try expect(try versions(await store.pull(space: "mission", after: 0, limit: 10, omitting: "d-bob")) == [1, 2, 3, 5])
        // Paged: a page that ends on a kept change has more; the cursor never skips one.
        let paged = try await store.pull(space: "mission", after: 0, limit: 1, omitting: "d-ana")
        try expect(try versions(paged) == [3])
        try expect(paged.cursor == 3 && paged.hasMore)
        await store.close()
    }

    @Sendable static func pullPagesBySpaceWithCursorAndHead(_ db: any ConformanceDatabase) async throws {
        let store = try await seeded(db)
        var w = DeviceWriter("d-1")
        var mutations: [Mutation] = []
        for i in 0..<7 {
            mutations.append(w.createNote("m\(i)"))
            mutations.append(w.createNote("b\(i)", space: "briefing"))
        }
        _ = try await store.push(mutations)
        var cursor: Version = 0
        var seen: [RecordID] = []
        var pages = 0
        while true {
            let page = try await store.pull(space: "mission", after: cursor, limit: 3)
            let changes = try page.encodedChanges.map { try Change(wireBytes: $0) }
            try expect(changes.allSatisfy { $0.key.space == "mission" })
            try expect(changes.map(\.version) == changes.map(\.version).sorted())
            try expect(changes.allSatisfy { $0.version > cursor })
            seen += changes.map(\.key.record)
            cursor = page.cursor
            pages += 1
            try expect(page.head == 13)
            if !page.hasMore { break }
        }
        try expect(pages == 3)
        try expect(seen == (0..<7).map { RecordID(unchecked: "m\($0)") })
        let empty = try await store.pull(space: "mission", after: cursor, limit: 3)
        try expect(empty.encodedChanges.isEmpty && !empty.hasMore && empty.cursor == cursor)
        try expect(try await store.head(of: "briefing").head == 14)
        await store.close()
    }

    @Sendable static func operatorWritesBypassDeviceAccess(_ db: any ConformanceDatabase) async throws {
        let store = try await seeded(db)
        var w = DeviceWriter("operator")
        let entry = w.mutation(.create, RecordKey(space: "briefing", collection: .entries, record: "park-z"), ["kind": .set(.string("park")), "name": .set(.string("Zhongguancun Science Park"))])
        try expect(try await store.push([entry]).first?.rejection?.code == .readOnlyCollection)
        try expect(try await store.record(entry.key) == nil)
        var load = entry
        load.id = "operator-load-1"  // a new mutation: ids are never reused, even after a rejection
        try expect(try await store.operatorWrite([load]).first?.status == .applied)
        try expect(try await store.record(entry.key)?.values["name"] == .string("Zhongguancun Science Park"))
        await store.close()
    }

    @Sendable static func mergesUseStoredHistory(_ db: any ConformanceDatabase) async throws {
        let store = try await seeded(db)
        var a = DeviceWriter("d-a"), b = DeviceWriter("d-b")
        let body = "We met the park office. They showed the incubator. Lunch was at noon."
        let create = a.createNote("n1", body: body)
        _ = try await store.push([create])
        let key = create.key
        _ = try await store.push([b.mutation(.patch, key, base: 1, ["body": .set(.text(body.replacingOccurrences(of: "noon", with: "one")))])])
        let diff = TextDiff(from: body, to: body.replacingOccurrences(of: "park office", with: "park management office"))
        let r = try await store.push([a.mutation(.patch, key, base: 1, ["body": .textDiff(diff)])])
        try expect(r.first?.status == .merged)
        try expect(try await store.record(key)?.values["body"] == .text("We met the park management office. They showed the incubator. Lunch was at one."))
        await store.close()
    }

    @Sendable static func everythingSurvivesReopening(_ db: any ConformanceDatabase) async throws {
        let store = try await db.open()
        try await store.createSpace("mission", now: 1)
        var w = DeviceWriter("d-1")
        let m = w.createNote("n1")
        _ = try await store.push([m])
        await store.close()
        let again = try await db.open()
        try expect(try await again.allSpaces() == ["mission"])
        try expect(try await again.record(m.key)?.values["title"] == .string("A note"))
        try expect(try await again.push([m]).first?.status == .applied)
        try expect(try await again.pull(space: "mission", after: 0, limit: 10).encodedChanges.count == 1)
        await again.close()
    }
}
