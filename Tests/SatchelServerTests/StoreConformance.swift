import Foundation
import SatchelTestSupport
import SatchelProtocol
import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite
import SatchelTesting

/// The suite every `ServerStore` backend must pass unchanged. Add a backend to `Backend` and it
/// runs every test below.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case memory

    var testDescription: String { rawValue }

    /// A fresh store, and a way to open the same store again (to check durability).
    func make(_ dir: TemporaryDirectory) throws -> (store: any ServerStore, reopen: @Sendable () throws -> any ServerStore) {
        switch self {
        case .sqlite:
            let path = dir.file("server.sqlite")
            return (try SQLiteServerStore(path: path), { try SQLiteServerStore(path: path) })
        case .memory:
            // As a SQLite file is found again at its path, a memory store is found again by its
            // directory for the rest of the process: making it again or reopening it gives the
            // same instance, open.
            let store = MemoryStores.store(at: dir.file("server.memory"))
            return (store, { store.reopen() })
        }
    }
}

/// The memory stores of this test process, by the path that stands for their file.
enum MemoryStores {
    private static let stores = Locked<[String: MemoryServerStore]>([:])

    static func store(at path: String) -> MemoryServerStore {
        stores.withLock { stores in
            if let store = stores[path] { return store.reopen() }
            let store = MemoryServerStore()
            stores[path] = store
            return store
        }
    }
}

@Suite struct StoreConformanceTests {
    let dir = TemporaryDirectory()

    func seeded(_ backend: Backend) async throws -> any ServerStore {
        let store = try backend.make(dir).store
        try await store.createSpace("mission", now: 1)
        try await store.createSpace("briefing", now: 1)
        try await store.createUser("ana", now: 1)
        try await store.setRole(.writer, user: "ana", space: "mission")
        try await store.setRole(.reader, user: "ana", space: "briefing")
        return store
    }

    @Test(arguments: Backend.allCases)
    func spacesUsersAndRoles(_ backend: Backend) async throws {
        let store = try await seeded(backend)
        await #expect { try await store.createSpace("mission", now: 2) } throws: { ($0 as? StoreError)?.code == .spaceExists }
        await #expect { try await store.createUser("ana", now: 2) } throws: { ($0 as? StoreError)?.code == .userExists }
        await #expect { try await store.setRole(.writer, user: "nobody", space: "mission") } throws: { ($0 as? StoreError)?.code == .unknownUser }
        await #expect { try await store.setRole(.writer, user: "ana", space: "nowhere") } throws: { ($0 as? StoreError)?.code == .unknownSpace }
        #expect(try await store.spaces(of: "ana").map(\.space) == ["briefing", "mission"])
        #expect(try await store.spaces(of: "ana").map(\.role) == [.reader, .writer])
        try await store.setRole(nil, user: "ana", space: "briefing")
        #expect(try await store.spaces(of: "ana").map(\.space) == ["mission"])
        #expect(try await store.allSpaces() == ["briefing", "mission"])
        await store.close()
    }

    @Test(arguments: Backend.allCases)
    func spacesEveryoneReadsAndRecordListing(_ backend: Backend) async throws {
        let store = try await seeded(backend)
        try await store.createUser("bob", now: 1)
        #expect(try await store.spaces(of: "bob").isEmpty)
        try await store.setEveryoneReads("briefing", true)
        #expect(try await store.spaces(of: "bob").map(\.space) == ["briefing"])
        #expect(try await store.spaces(of: "bob").map(\.role) == [.reader])
        // An explicit membership still wins.
        try await store.setRole(.owner, user: "bob", space: "briefing")
        #expect(try await store.spaces(of: "bob").map(\.role) == [.owner])
        var w = DeviceWriter("d-1")
        _ = try await store.push([w.createNote("n1"), w.createNote("n2"), w.createNote("b1", space: "briefing")])
        #expect(Set(try await store.records(in: "mission", collection: .notes).keys.map(\.record)) == ["n1", "n2"])
        await store.close()
    }

    @Test(arguments: Backend.allCases)
    func enrollmentCodesWorkOnceAndExpire(_ backend: Backend) async throws {
        let store = try await seeded(backend)
        try await store.createEnrollment(codeHash: [1, 2, 3], user: "ana", label: "ana-laptop", expiresAt: 1000, now: 10)
        let device = try await store.redeemEnrollment(codeHash: [1, 2, 3], device: "d-1", label: nil, tokenHash: [9, 9], client: "test/1", now: 20)
        #expect(device.user == "ana" && device.label == "ana-laptop")
        await #expect { try await store.redeemEnrollment(codeHash: [1, 2, 3], device: "d-2", label: nil, tokenHash: [8], client: nil, now: 30) }
            throws: { ($0 as? StoreError)?.code == .enrollmentUsed }
        try await store.createEnrollment(codeHash: [4], user: "ana", label: nil, expiresAt: 100, now: 10)
        await #expect { try await store.redeemEnrollment(codeHash: [4], device: "d-3", label: nil, tokenHash: [7], client: nil, now: 100) }
            throws: { ($0 as? StoreError)?.code == .enrollmentExpired }
        await #expect { try await store.redeemEnrollment(codeHash: [5], device: "d-4", label: nil, tokenHash: [6], client: nil, now: 10) }
            throws: { ($0 as? StoreError)?.code == .enrollmentInvalid }
        await #expect { try await store.createEnrollment(codeHash: [6], user: "ghost", label: nil, expiresAt: 100, now: 10) }
            throws: { ($0 as? StoreError)?.code == .unknownUser }
        #expect(try await store.device(tokenHash: [9, 9])?.id == "d-1")
        #expect(try await store.device(tokenHash: [8]) == nil)
        await store.close()
    }

    @Test(arguments: Backend.allCases)
    func revokedDevicesStayKnownButMarked(_ backend: Backend) async throws {
        let store = try await seeded(backend)
        try await store.createEnrollment(codeHash: [1], user: "ana", label: nil, expiresAt: 1000, now: 10)
        _ = try await store.redeemEnrollment(codeHash: [1], device: "d-1", label: "x", tokenHash: [2], client: nil, now: 20)
        try await store.touch("d-1", client: "satchel-cli/0.2", now: 50)
        #expect(try await store.device("d-1")?.lastSeenAt == 50)
        #expect(try await store.device("d-1")?.client == "satchel-cli/0.2")
        #expect(try await store.device(tokenHash: [2])?.lastSeenAt == 50)
        #expect(try await store.devices(of: "ana").map(\.lastSeenAt) == [50])
        // An older note never moves it back, before or after it is written.
        try await store.touch("d-1", client: nil, now: 52)
        try await store.touch("d-1", client: nil, now: 40)
        #expect(try await store.device("d-1")?.lastSeenAt == 52)
        #expect(try await store.device("d-1")?.client == "satchel-cli/0.2")
        try await store.touch("d-1", client: nil, now: 40)
        #expect(try await store.devices(of: "ana").map(\.lastSeenAt) == [52])
        try await store.touch("d-1", client: nil, now: 55)
        try await store.revoke("d-1", now: 60)
        #expect(try await store.device(tokenHash: [2])?.revokedAt == 60)
        #expect(try await store.device(tokenHash: [2])?.userDisabled == false)
        try await store.disableUser("ana", now: 70)
        #expect(try await store.device(tokenHash: [2])?.userDisabled == true)
        await #expect { try await store.revoke("d-nope", now: 60) } throws: { ($0 as? StoreError)?.code == .unknownDevice }
        // Noted last-seen times are written by the time the store closes.
        await store.close()
        let made = try backend.make(dir)
        await made.store.close()
        let reopened = try made.reopen()
        #expect(try await reopened.device("d-1")?.lastSeenAt == 55)
        #expect(try await reopened.device("d-1")?.client == "satchel-cli/0.2")
        await reopened.close()
    }

    @Test(arguments: Backend.allCases)
    func pushIsIdempotentAndResultsKeepTheirOrder(_ backend: Backend) async throws {
        let store = try await seeded(backend)
        var w = DeviceWriter("d-1")
        let a = w.createNote("n1"), bad = w.mutation(.patch, RecordKey(space: "mission", collection: .notes, record: "missing"), base: 1, ["title": .set(.string("x"))]), b = w.createNote("n2")
        let first = try await store.push([a, bad, b])
        #expect(first.map(\.status) == [.applied, .rejected, .applied])
        #expect(first[1].rejection?.code == .recordNotFound)
        let again = try await store.push([a, bad, b])
        #expect(again == first)
        let page = try await store.pull(space: "mission", after: 0, limit: 100)
        #expect(page.encodedChanges.count == 2)
        await store.close()
    }

    @Test(arguments: Backend.allCases)
    func aMutationIdIsItsDevicesAndACounterIsUsedOnce(_ backend: Backend) async throws {
        let store = try await seeded(backend)
        var ana = DeviceWriter("d-ana"), bob = DeviceWriter("d-bob")
        #expect(try await store.writeState(of: "d-ana") == nil)
        let mine = ana.createNote("n1")
        let told = try await store.push([mine])
        // Bob sends Ana's id (seen in a pull) with his own note: refused, never recorded.
        var stolen = bob.createNote("b1")
        stolen.id = mine.id
        let refused = try await store.push([stolen, stolen])
        #expect(refused.map { $0.rejection?.code } == [.mutationIDTaken, .mutationIDTaken])
        #expect(try await store.record(RecordKey(space: "mission", collection: .notes, record: "b1")) == nil)
        // Ana's retry still gets her first answer.
        #expect(try await store.push([mine]) == told)
        // A new id under a counter Ana already used: a copy of her device. Nothing stored.
        var copy = ana
        copy.counter -= 1
        var twin = copy.createNote("n2")
        twin.id = "copy-of-d-ana-m1"
        #expect(twin.counter == mine.counter && twin.id != mine.id)
        #expect(try await store.push([twin]).first?.rejection?.code == .deviceCopied)
        #expect(try await store.record(RecordKey(space: "mission", collection: .notes, record: "n2")) == nil)
        // A refused write leaves its counter free (older clients resend under it).
        var unknownNote = ana.mutation(.patch, RecordKey(space: "mission", collection: .notes, record: "missing"), base: 1, ["title": .set(.string("x"))])
        #expect(try await store.push([unknownNote]).first?.rejection?.code == .recordNotFound)
        unknownNote.id = "resent-under-the-same-counter"
        unknownNote.operation = Mutation.Operation.create
        #expect(try await store.push([unknownNote]).first?.status == .applied)
        // What hello reports: the highest counter stored from the device, with its clock.
        let later = ana.createNote("n3")
        _ = try await store.push([later])
        #expect(try await store.writeState(of: "d-ana") == DeviceWriteState(counter: later.counter, clock: later.clock, mutation: later.id))
        #expect(try await store.writeState(of: "d-bob") == nil)
        // Operator writes use no device counter.
        var first = DeviceWriter("operator"), second = DeviceWriter("operator")
        var o2 = second.createNote("o2")
        o2.id = "operator-second-load"
        _ = try await store.operatorWrite([first.createNote("o1"), o2])
        #expect(try await store.record(RecordKey(space: "mission", collection: .notes, record: "o2")) != nil)
        await store.close()
    }

    @Test(arguments: Backend.allCases)
    func writesAppliedAsWrittenAreMarkedKeptAndLeftOutOfTheirDevicesPulls(_ backend: Backend) async throws {
        let store = try await seeded(backend)
        var ana = DeviceWriter("d-ana"), bob = DeviceWriter("d-bob")
        let n1 = RecordKey(space: "mission", collection: .notes, record: "n1")
        let first = try await store.push([ana.createNote("n1"), ana.mutation(.patch, n1, base: 1, ["title": .set(.string("Edited"))])])
        #expect(first.map(\.asWritten) == [true, true])
        // Bob's edit of an older version merges: not as written. Then his own new note is.
        let second = try await store.push([bob.mutation(.patch, n1, base: 1, ["body": .set(.text("Bob's body"))]), bob.createNote("n2")])
        #expect(second.map(\.status) == [.merged, .applied])
        #expect(second.map(\.asWritten) == [false, true])
        // A repeated push gets the same answers, flags included.
        #expect(try await store.push([ana.createNote("n3")]).map(\.asWritten) == [true])
        ana.counter -= 1
        #expect(try await store.push([ana.createNote("n3")]).map(\.asWritten) == [true])

        func versions(_ page: EncodedPage) throws -> [Version] { try page.encodedChanges.map { try Change(wireBytes: $0).version } }
        #expect(try versions(await store.pull(space: "mission", after: 0, limit: 10)) == [1, 2, 3, 4, 5])
        // Ana's pulls leave out her as-written changes but still end at the head.
        let forAna = try await store.pull(space: "mission", after: 0, limit: 10, omitting: "d-ana")
        #expect(try versions(forAna) == [3, 4])
        #expect(forAna.cursor == 5 && !forAna.hasMore)
        #expect(try versions(await store.pull(space: "mission", after: 0, limit: 10, omitting: "d-bob")) == [1, 2, 3, 5])
        // Paged: a page that ends on a kept change has more; the cursor never skips one.
        let paged = try await store.pull(space: "mission", after: 0, limit: 1, omitting: "d-ana")
        #expect(try versions(paged) == [3])
        #expect(paged.cursor == 3 && paged.hasMore)
        await store.close()
    }

    @Test(arguments: Backend.allCases)
    func pullPagesBySpaceWithCursorAndHead(_ backend: Backend) async throws {
        let store = try await seeded(backend)
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
            #expect(changes.allSatisfy { $0.key.space == "mission" })
            #expect(changes.map(\.version) == changes.map(\.version).sorted())
            #expect(changes.allSatisfy { $0.version > cursor })
            seen += changes.map(\.key.record)
            cursor = page.cursor
            pages += 1
            #expect(page.head == 13)
            if !page.hasMore { break }
        }
        #expect(pages == 3)
        #expect(seen == (0..<7).map { RecordID(unchecked: "m\($0)") })
        let empty = try await store.pull(space: "mission", after: cursor, limit: 3)
        #expect(empty.encodedChanges.isEmpty && !empty.hasMore && empty.cursor == cursor)
        #expect(try await store.head(of: "briefing").head == 14)
        await store.close()
    }

    @Test(arguments: Backend.allCases)
    func operatorWritesBypassDeviceAccess(_ backend: Backend) async throws {
        let store = try await seeded(backend)
        var w = DeviceWriter("operator")
        let entry = w.mutation(.create, RecordKey(space: "briefing", collection: .entries, record: "park-z"), ["kind": .set(.string("park")), "name": .set(.string("Zhongguancun Science Park"))])
        #expect(try await store.push([entry]).first?.rejection?.code == .readOnlyCollection)
        #expect(try await store.record(entry.key) == nil)
        var load = entry
        load.id = "operator-load-1"  // a new mutation: ids are never reused, even after a rejection
        #expect(try await store.operatorWrite([load]).first?.status == .applied)
        #expect(try await store.record(entry.key)?.values["name"] == .string("Zhongguancun Science Park"))
        await store.close()
    }

    @Test(arguments: Backend.allCases)
    func mergesUseStoredHistory(_ backend: Backend) async throws {
        let store = try await seeded(backend)
        var a = DeviceWriter("d-a"), b = DeviceWriter("d-b")
        let body = "We met the park office. They showed the incubator. Lunch was at noon."
        let create = a.createNote("n1", body: body)
        _ = try await store.push([create])
        let key = create.key
        _ = try await store.push([b.mutation(.patch, key, base: 1, ["body": .set(.text(body.replacingOccurrences(of: "noon", with: "one")))])])
        let diff = TextDiff(from: body, to: body.replacingOccurrences(of: "park office", with: "park management office"))
        let r = try await store.push([a.mutation(.patch, key, base: 1, ["body": .textDiff(diff)])])
        #expect(r.first?.status == .merged)
        #expect(try await store.record(key)?.values["body"] == .text("We met the park management office. They showed the incubator. Lunch was at one."))
        await store.close()
    }

    @Test(arguments: Backend.allCases)
    func everythingSurvivesReopening(_ backend: Backend) async throws {
        let (store, reopen) = try backend.make(dir)
        try await store.createSpace("mission", now: 1)
        var w = DeviceWriter("d-1")
        let m = w.createNote("n1")
        _ = try await store.push([m])
        await store.close()
        let again = try reopen()
        #expect(try await again.allSpaces() == ["mission"])
        #expect(try await again.record(m.key)?.values["title"] == .string("A note"))
        #expect(try await again.push([m]).first?.status == .applied)
        #expect(try await again.pull(space: "mission", after: 0, limit: 10).encodedChanges.count == 1)
        await again.close()
    }
}
