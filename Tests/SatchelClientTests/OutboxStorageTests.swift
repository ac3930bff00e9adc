import Foundation
import SatchelProtocol
import SatchelSQLite
import SatchelTestSupport
import Testing
@testable import SatchelClient
import SatchelTesting

/// The SQLite store's shortcuts for bulk pushes: requests built from the stored encodings, light
/// outbox reads for acknowledging, and a confirmed state stored once when it is the view. Each
/// must give exactly what the plain, decoding path gives.
@Suite struct OutboxStorageTests {
    let dir = TemporaryDirectory()
    let space: SpaceID = "mission"

    /// A device with a create, a text diff, a set change, a delete and a rejected write queued.
    func queued() throws -> SQLiteReplicaStorage {
        var s = try SQLiteReplicaStorage(path: dir.file("device.sqlite"))
        try s.inTransaction { try $0.saveDeviceState(DeviceState(device: "dev-ana")) }
        let a = RecordKey(space: space, collection: .notes, record: "note-a")
        let b = RecordKey(space: space, collection: .notes, record: "note-b")
        let body = String(repeating: "Lithium valley visit, long report. ", count: 40)
        try s.write(.create, a, values: ["title": .string("A"), "body": .text(body), "tags": .stringSet(["x"])], physicalMillis: 1_000)
        try s.write(.create, b, values: ["title": .string("B"), "body": .text("short")], physicalMillis: 1_001)
        // Confirm A so the next body edit travels as a diff.
        try s.inTransaction { s in
            var r = try s.record(a)!
            r.confirmed = r.view
            r.confirmedVersion = 3
            try s.saveRecord(r)
            for e in try s.outbox(for: a) { try s.removeOutbox(seq: e.seq) }
        }
        try s.write(.patch, a, values: ["body": .text(body + "One more line.")], physicalMillis: 1_002)
        try s.write(.patch, b, values: ["title": .string("B2")], physicalMillis: 1_003)
        try s.write(.delete, b, physicalMillis: 1_004)
        try s.inTransaction { s in
            var rejected = try s.pendingEntries(limit: 10).last!
            rejected.state = .rejected(Rejection(.invalidValue, "test"))
            try s.updateOutbox(rejected)
        }
        return s
    }

    @Test func aPushBuiltFromStoredBytesIsTheRequestBuiltFromDecodedMutations() throws {
        let s = try queued()
        defer { s.close() }
        let entries = try s.pendingEntries(after: 0, limit: 10)
        #expect(entries.count == 3)
        #expect(entries.contains { $0.mutation.changes["body"].map { if case .textDiff = $0 { true } else { false } } == true })
        for asWritten in [false, true] {
            let stored = try s.pendingEncoded(after: 0, limit: 10)
            #expect(stored.last == entries.last!.seq)
            let push = EncodedPush(encodedMutations: stored.mutations, reportAsWritten: asWritten)
            let expected = PushRequest(mutations: entries.map(\.mutation), reportAsWritten: asWritten)
            #expect(push.count == 3)
            #expect(try push.request() == expected)
            #expect(push.payloadBytes == expected.wireBytes.count)
        }
        // Paging: after the first entry, and past the end.
        #expect(try s.pendingEncoded(after: entries[0].seq, limit: 1).mutations == [entries[1].mutation.wireBytes])
        let end = try s.pendingEncoded(after: entries[2].seq, limit: 5)
        #expect(end.mutations.isEmpty && end.last == entries[2].seq)
        // Cut by bytes: always the first entry, then only what fits, the SQLite store and the
        // protocol's default (what the memory store uses) alike.
        let sizes = entries.map(\.mutation.wireBytes.count)
        for cut in [sizes[0] - 1, sizes[0] + sizes[1] - 1, sizes[0] + sizes[1]] {
            let stored = try s.pendingEncoded(after: 0, limit: 10, maxBytes: cut)
            var memory = MemoryReplicaStorage(device: "d-1")
            for entry in entries { _ = memory.appendOutbox(OutboxEntry(mutation: entry.mutation, texts: entry.texts)) }
            let fits = max(1, sizes.indices.filter { sizes[...$0].reduce(0, +) <= cut }.count)
            #expect(stored.mutations == entries.prefix(fits).map(\.mutation.wireBytes), "cut at \(cut) bytes")
            #expect(try memory.pendingEncoded(after: 0, limit: 10, maxBytes: cut).mutations == stored.mutations)
        }
    }

    @Test func outboxHeadsMatchTheDecodedEntries() throws {
        let s = try queued()
        defer { s.close() }
        let all = try s.pendingEntries(after: 0, limit: 10) + s.rejectedEntries()
        #expect(all.count == 4)
        for entry in all {
            #expect(try s.outboxHead(entry.mutation.id) == OutboxHead(entry))
            let header = try Mutation.header(wireBytes: entry.mutation.wireBytes)
            #expect(header.id == entry.mutation.id && header.key == entry.mutation.key)
        }
        #expect(try s.outboxHead("no-such-mutation") == nil)
        // Only a diff keeps its text beside the mutation; whole text is in the mutation.
        #expect(all.filter { !$0.texts.isEmpty }.count == 1)
    }

    @Test func aConfirmedStateEqualToTheViewIsStoredOnce() throws {
        var s = try SQLiteReplicaStorage(path: dir.file("device.sqlite"))
        defer { s.close() }
        let key = RecordKey(space: space, collection: .notes, record: "note-c")
        let values: [FieldName: Value] = ["title": .string("C"), "body": .text("Pudong office.")]
        func raw() throws -> (confirmedIsNull: Bool, isView: Bool) {
            let db = try Database(path: dir.file("device.sqlite"))
            defer { db.close() }
            return try db.query("SELECT confirmed IS NULL, confirmed_is_view FROM records WHERE record = 'note-c'") { ($0.bool(at: 0), $0.bool(at: 1)) }[0]
        }
        try s.inTransaction { try $0.saveRecord(LocalRecord(key: key, confirmedVersion: 4, confirmed: values, view: values)) }
        #expect(try s.record(key) == LocalRecord(key: key, confirmedVersion: 4, confirmed: values, view: values))
        #expect(try raw() == (true, true))
        // The device edits: the two differ and both are kept.
        var edited = values
        edited["title"] = .string("C, edited")
        try s.inTransaction { try $0.saveRecord(LocalRecord(key: key, confirmedVersion: 4, confirmed: values, view: edited)) }
        #expect(try s.record(key) == LocalRecord(key: key, confirmedVersion: 4, confirmed: values, view: edited))
        #expect(try raw() == (false, false))
        // The server confirms the edit as written.
        try s.inTransaction { try $0.confirmView(of: key, version: 5) }
        #expect(try s.record(key) == LocalRecord(key: key, confirmedVersion: 5, confirmed: edited, view: edited))
        #expect(try raw() == (true, true))
        // Deleted on the server: nothing confirmed, nothing shown.
        try s.inTransaction { try $0.saveRecord(LocalRecord(key: key, confirmedVersion: 6, confirmed: nil, view: nil)) }
        #expect(try s.record(key) == LocalRecord(key: key, confirmedVersion: 6, confirmed: nil, view: nil))
        // Deleted on the device only: the confirmed state stays.
        try s.inTransaction { try $0.saveRecord(LocalRecord(key: key, confirmedVersion: 6, confirmed: values, view: nil)) }
        #expect(try s.record(key) == LocalRecord(key: key, confirmedVersion: 6, confirmed: values, view: nil))
    }
}
