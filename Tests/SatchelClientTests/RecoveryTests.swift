import Foundation
import SatchelProtocol
import SatchelTestSupport
import Testing
@testable import SatchelClient
import SatchelTesting

/// The device's recovery steps on in-memory storage against the in-memory change log: a store
/// that went back in time, a copied one, a clock that ran ahead, an identity taken anew.
@Suite struct RecoveryTests {
    static let t: Int64 = 1_796_000_000_000
    static let year: Int64 = 365 * 86_400_000

    /// A device's store and the server's log, and the device's writes pushed and answered.
    struct World {
        var log = ChangeLog()
        var store = MemoryReplicaStorage(device: "d-ana")

        @discardableResult
        mutating func note(_ title: String, at t: Int64) throws -> Mutation {
            try store.write(.create, RecordKey(space: "mission", collection: .notes, record: RecordID(unchecked: "n-" + title.replacingOccurrences(of: " ", with: "-"))),
                            values: ["title": .string(title)], physicalMillis: t)
        }

        /// Pushes every pending write; with `answered` false the answers are lost on the way.
        @discardableResult
        mutating func sync(answered: Bool = true, at t: Int64) throws -> [MutationResult] {
            let results = store.pendingEntries(limit: .max).map { log.push($0.mutation) }
            if answered { try store.acknowledge(results, serverClock: nil, physicalMillis: t) }
            return results
        }
    }

    @Test func aStoreRestoredFromABackupRecoversOnceAndThenLooksCopied() throws {
        var w = World()
        try w.note("a", at: Self.t)
        try w.sync(at: Self.t)
        let backup = w.store
        try w.note("b", at: Self.t + 1)
        try w.note("c", at: Self.t + 2)
        try w.sync(at: Self.t + 2)

        w.store.restore(from: backup)
        let typed = try w.note("d", at: Self.t + 3)  // takes the counter "b" has on the server
        #expect(typed.counter == w.log.writeState(of: "d-ana")!.counter - 1)
        #expect(try w.store.recoverIfWentBack(w.log.writeState(of: "d-ana"), physicalMillis: Self.t + 4) == .recovered)
        let queued = try #require(w.store.pendingEntries(limit: 1).first?.mutation)
        #expect(queued.id == typed.id && queued.counter > w.log.writeState(of: "d-ana")!.counter)
        #expect(queued.clock > w.log.writeState(of: "d-ana")!.clock)
        #expect(try w.sync(at: Self.t + 5).map(\.status) == [.applied])
        #expect(try w.store.recoverIfWentBack(w.log.writeState(of: "d-ana"), physicalMillis: Self.t + 6) == .no)

        // Another machine with the same store writes again: this one goes back a second time soon.
        var other = w
        try other.note("e", at: Self.t + 7)
        try other.sync(at: Self.t + 7)
        w.log = other.log
        #expect(try w.store.recoverIfWentBack(w.log.writeState(of: "d-ana"), physicalMillis: Self.t + 8) == .copied)
        // Well after the last recovery, going back is a restore again.
        #expect(try w.store.recoverIfWentBack(w.log.writeState(of: "d-ana"), physicalMillis: Self.t + 8 + GoingBack.copyWindowMillis) == .recovered)
    }

    @Test func aPushAnsweredDeviceCopiedKeepsTheWriteQueued() throws {
        var w = World()
        // The second machine: a copy of the store, with randomness of its own.
        var copy = World()
        copy.store = MemoryReplicaStorage(device: "d-ana", idSeed: 2)
        copy.store.restore(from: w.store)
        try w.note("from the first machine", at: Self.t)
        try w.sync(at: Self.t)
        copy.log = w.log
        try copy.note("from the second machine", at: Self.t + 1)  // the same counter, another id
        let results = try copy.sync(answered: false, at: Self.t + 1)
        #expect(results.map { $0.rejection?.code } == [.deviceCopied])
        let summary = try copy.store.acknowledge(results, serverClock: nil, physicalMillis: Self.t + 2)
        #expect(summary.copied == 1 && summary.rejected == 0)
        #expect(copy.store.pendingCount() == 1 && copy.store.rejectedEntries().isEmpty)
        #expect(copy.log.head == w.log.head)
    }

    @Test func aWriteWhoseAnswerWasLostIsNotGoingBack() throws {
        var w = World()
        try w.note("a", at: Self.t)
        try w.sync(answered: false, at: Self.t)
        #expect(try w.store.recoverIfWentBack(w.log.writeState(of: "d-ana"), physicalMillis: Self.t + 1) == .no)
        // Sent again, the same id gets its first answer.
        #expect(try w.sync(at: Self.t + 2).map(\.status) == [.applied])
        #expect(w.log.head == 1)
    }

    @Test func aStoreFromBeforeAnsweredCountersCountsItsOwnWritesAsAnswered() throws {
        let dir = TemporaryDirectory()
        var store = try SQLiteReplicaStorage(path: dir.file("old.sqlite"))
        try store.inTransaction { s in try s.saveDeviceState(DeviceState(device: "d-old", counter: 41)) }
        try store.setMetaString("answered_counter", nil)
        #expect(try store.deviceState().answeredCounter == 41)
        let server = DeviceWriteState(counter: 41, clock: HLC(millis: Self.t, counter: 0), mutation: "confirmed-long-ago")
        #expect(try store.recoverIfWentBack(server, physicalMillis: Self.t) == .no)
        store.close()
    }

    @Test func aClockAYearAheadWaitsThenIsSetBackAndItsWritesStampedAgain() throws {
        var w = World()
        try w.note("a", at: Self.t)
        try w.sync(at: Self.t)
        let future = try w.note("written a year ahead", at: Self.t + Self.year)
        let skew = Limits.default.maxClockSkewMillis
        // The date is still wrong: nothing changes.
        #expect(try w.store.settleClock(serverTime: Self.t + 10, maxSkewMillis: skew, physicalMillis: Self.t + Self.year + 10, serverHolds: w.log.writeState(of: "d-ana")) == .ahead(millis: Self.year))
        #expect(w.store.pendingEntries(limit: 1).first?.mutation == future)
        // The date is fixed: the clock goes back, the write keeps its id with a new counter and clock.
        #expect(try w.store.settleClock(serverTime: Self.t + 20, maxSkewMillis: skew, physicalMillis: Self.t + 20, serverHolds: w.log.writeState(of: "d-ana")) == .restamped(1))
        let again = try #require(w.store.pendingEntries(limit: 1).first?.mutation)
        #expect(again.id == future.id && again.counter > future.counter && again.clock.millis == Self.t + 20)
        #expect(w.store.deviceState().clock.millis < Self.t + skew)
        #expect(try w.note("b", at: Self.t + 30).clock.millis == Self.t + 30)
        #expect(try w.store.settleClock(serverTime: Self.t + 40, maxSkewMillis: skew, physicalMillis: Self.t + 40, serverHolds: nil) == .fine)
    }

    @Test func aNewIdentityTakesTheQueuedWritesAndPullsEverythingAgain() throws {
        var w = World()
        try w.note("a", at: Self.t)
        try w.sync(at: Self.t)
        try w.store.setCursor(1, of: "mission")
        let queued = try w.note("b", at: Self.t + 1)
        try w.store.adoptIdentity("d-ana-2", spaces: ["mission"])
        let moved = try #require(w.store.pendingEntries(limit: 1).first?.mutation)
        #expect(moved.device == "d-ana-2" && moved.id != queued.id && moved.counter == 1)
        #expect(w.store.cursor(of: "mission") == 0)
        #expect(w.store.deviceState().device == "d-ana-2")
    }
}
