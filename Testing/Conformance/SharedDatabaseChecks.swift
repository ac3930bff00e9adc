import SatchelProtocol
import SatchelServerCore
import Synchronization

/// Two store objects on one database, used at once, as two servers behind a load balancer use
/// it: every rule of the store contract holds across them.
extension StoreConformance {
    static let sharedDatabase: [Check] = [
        check("theSameMutationPushedAtOnceOnTwoObjectsHasOneEffect", theSameMutationPushedAtOnceOnTwoObjectsHasOneEffect),
        check("concurrentPatchesOfOneRecordOnTwoObjectsLoseNothing", concurrentPatchesOfOneRecordOnTwoObjectsLoseNothing),
        check("aPullerLoopingWhileTwoObjectsCommitSkipsNothing", aPullerLoopingWhileTwoObjectsCommitSkipsNothing),
        check("aSnapshotReadPageByPageUnderWritesThenTheLogRebuildsTheSpace", aSnapshotReadPageByPageUnderWritesThenTheLogRebuildsTheSpace),
        check("anEnrollmentCodeRedeemedAtOnceOnTwoObjectsWorksOnce", anEnrollmentCodeRedeemedAtOnceOnTwoObjectsWorksOnce),
        check("aRevocationOnOneObjectRefusesTheTokenOnTheOther", aRevocationOnOneObjectRefusesTheTokenOnTheOther),
        check("eachObjectsFeedHearsWhatTheOtherCommitted", eachObjectsFeedHearsWhatTheOtherCommitted),
        check("overlappingActivityFlushesLoseNoNote", overlappingActivityFlushesLoseNoNote),
    ]

    /// The activity flush and an operator's read write bookkeeping at once (on a backend whose
    /// writes interleave): every note is written, the latest one wins, nothing fails.
    @Sendable static func overlappingActivityFlushesLoseNoNote(_ db: any ConformanceDatabase) async throws {
        let a = try await seeded(db)
        try await a.createEnrollment(codeHash: [5], user: "ana", label: nil, expiresAt: 1_000, now: 10)
        _ = try await a.redeemEnrollment(codeHash: [5], device: "d-1", label: nil, tokenHash: [6], client: nil, now: 20)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for round in 1...20 {
                try await a.recordPull(device: "d-1", space: "mission", cursor: Version(round), now: 100 + Int64(round))
                try await a.touch("d-1", client: "c/\(round)", now: 100 + Int64(round))
                group.addTask { try await a.flushActivity() }
                group.addTask { _ = try await a.activity(of: "d-1") }
            }
            try await group.waitForAll()
        }
        try await a.flushActivity()
        let mission = try await a.activity(of: "d-1").spaces.first { $0.space == "mission" }
        try expectEqual(mission?.cursor, 20)
        try expectEqual(try await a.device("d-1")?.lastSeenAt, 120)
        await a.close()
        let reopened = try await db.open()
        try expectEqual(try await reopened.device("d-1")?.client, "c/20")
        await reopened.close()
    }

    @Sendable static func anEnrollmentCodeRedeemedAtOnceOnTwoObjectsWorksOnce(_ db: any ConformanceDatabase) async throws {
        let a = try await seeded(db), b = try await db.open()
        for round in 0..<5 {
            let code = [UInt8(round), 7, 7]
            try await a.createEnrollment(codeHash: code, user: "ana", label: nil, expiresAt: 1_000, now: 10)
            async let first = outcome { try await a.redeemEnrollment(codeHash: code, device: DeviceID(unchecked: "a-\(round)"), label: nil, tokenHash: [1, UInt8(round)], client: nil, now: 20) }
            async let second = outcome { try await b.redeemEnrollment(codeHash: code, device: DeviceID(unchecked: "b-\(round)"), label: nil, tokenHash: [2, UInt8(round)], client: nil, now: 20) }
            let outcomes = await [first, second]
            try expectEqual(outcomes.filter { (try? $0.get()) != nil }.count, 1, "a code must work once, round \(round)")
            for case .failure(let error) in outcomes {
                try expect((error as? StoreError)?.code == .enrollmentUsed, "the second redemption must be refused as used, not \(error)")
            }
        }
        try expectEqual(try await a.devices(of: "ana").count, 5)
        await a.close()
        await b.close()
    }

    @Sendable static func aRevocationOnOneObjectRefusesTheTokenOnTheOther(_ db: any ConformanceDatabase) async throws {
        let a = try await seeded(db), b = try await db.open()
        try await a.createEnrollment(codeHash: [5], user: "ana", label: nil, expiresAt: 1_000, now: 10)
        _ = try await a.redeemEnrollment(codeHash: [5], device: "d-1", label: nil, tokenHash: [6], client: nil, now: 20)
        try expect(try await b.device(tokenHash: [6])?.revokedAt == nil)
        try await a.revoke("d-1", now: 30)
        try expectEqual(try await b.device(tokenHash: [6])?.revokedAt, 30, "the next lookup on any object sees the revocation")
        try await b.disableUser("ana", now: 40)
        try expectEqual(try await a.device(tokenHash: [6])?.userDisabled, true)
        await a.close()
        await b.close()
    }

    /// What one object commits reaches the other's feed (once its background services run):
    /// how a server learns of pushes, revocations and compactions made through another.
    @Sendable static func eachObjectsFeedHearsWhatTheOtherCommitted(_ db: any ConformanceDatabase) async throws {
        let a = try await seeded(db), b = try await db.open()
        let heard = b.feed.subscribe()
        let tails = Task {
            await withTaskGroup(of: Void.self) { group in
                for service in b.backgroundServices { group.addTask { try? await service.run() } }
            }
        }
        defer { tails.cancel() }
        var w = DeviceWriter("d-ana")
        let results = try await a.push([w.createNote("n1"), w.createNote("n2")])
        try await a.createEnrollment(codeHash: [5], user: "ana", label: nil, expiresAt: 1_000, now: 10)
        _ = try await a.redeemEnrollment(codeHash: [5], device: "d-1", label: nil, tokenHash: [6], client: nil, now: 20)
        try await a.revoke("d-1", now: 30)
        var head: Version = 0, revoked = false
        let deadline = ContinuousClock.now + .seconds(10)
        var events = heard.makeAsyncIterator()
        while head < results[1].version || !revoked {
            guard ContinuousClock.now < deadline else {
                throw ConformanceFailure(description: "the other object's feed heard head \(head) of \(results[1].version), revoked: \(revoked)")
            }
            switch await events.next() {
            case .advanced("mission", let h, _)?: head = max(head, h)
            case .revoked("d-1")?: revoked = true
            case nil: throw ConformanceFailure(description: "the feed ended")
            default: continue
            }
        }
        tails.cancel()
        await a.close()
        await b.close()
    }

    @Sendable static func theSameMutationPushedAtOnceOnTwoObjectsHasOneEffect(_ db: any ConformanceDatabase) async throws {
        let a = try await seeded(db), b = try await db.open()
        var w = DeviceWriter("d-ana")
        for round in 0..<10 {
            // A device retrying on another server while the first still applies its push.
            let batch = (0..<5).map { w.createNote("n\(round)-\($0)") }
            async let first = a.push(batch)
            async let second = b.push(batch)
            let (one, other) = try await (first, second)
            try expectEqual(one, other, "the same push answered differently by two store objects")
            try expect(one.allSatisfy { $0.status == .applied }, "\(one.map(\.status))")
        }
        let all = try await pullAll(a, after: 0)
        try expectEqual(all.count, 50, "each mutation must be applied once")
        try expectEqual(Set(all.map(\.version)).count, 50)
        try expectEqual(try await b.writeState(of: "d-ana")?.counter, 50)
        await a.close()
        await b.close()
    }

    @Sendable static func concurrentPatchesOfOneRecordOnTwoObjectsLoseNothing(_ db: any ConformanceDatabase) async throws {
        let a = try await seeded(db), b = try await db.open()
        var creator = DeviceWriter("d-ana")
        let words = (0..<8).map { "word\($0)" }
        let create = creator.createNote("shared", body: words.joined(separator: " "))
        _ = try await a.push([create])
        // Eight devices edit version 1 at once, half through each object: each adds a tag and
        // changes its own word of the body.
        let results = try await withThrowingTaskGroup(of: MutationResult.self) { group in
            for i in 0..<8 {
                let store = i.isMultiple(of: 2) ? a : b
                group.addTask {
                    var w = DeviceWriter(DeviceID(unchecked: "d-\(i)"))
                    var edited = words
                    edited[i] = "WORD\(i)"
                    let diff = TextDiff(from: words.joined(separator: " "), to: edited.joined(separator: " "))
                    let patch = w.mutation(.patch, create.key, base: 1, [
                        "tags": .setDelta(add: .stringSet(["tag-\(i)"]), remove: .stringSet([])),
                        "body": .textDiff(diff),
                    ])
                    return try await store.push([patch])[0]
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        try expect(results.allSatisfy { $0.status == .applied || $0.status == .merged }, "\(results.map(\.status))")
        let state = try unwrap(try await b.record(create.key))
        try expectEqual(state.values["tags"], .stringSet((0..<8).map { "tag-\($0)" }.sorted()))
        try expectEqual(state.values["body"], .text((0..<8).map { "WORD\($0)" }.joined(separator: " ")))
        try expectEqual(try await a.record(create.key), state)
        await a.close()
        await b.close()
    }

    @Sendable static func aPullerLoopingWhileTwoObjectsCommitSkipsNothing(_ db: any ConformanceDatabase) async throws {
        let a = try await seeded(db), b = try await db.open(), reader = try await db.open()
        let done = Flag()
        let pushers = Task {
            defer { done.set() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (n, store) in [a, b].enumerated() {
                    group.addTask {
                        var w = DeviceWriter(DeviceID(unchecked: "d-\(n)"))
                        for round in 0..<25 {
                            _ = try await store.push((0..<4).map { w.createNote("p\(n)-\(round)-\($0)") })
                            await Task.yield()
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        // A device pulling as fast as it can while both commit, until a last page read after
        // they ended.
        var cursor: Version = 0, pulled: [Version] = []
        while true {
            let finished = done.isSet
            let page = try await reader.pull(space: "mission", after: cursor, limit: 7)
            let versions = try page.encodedChanges.map { try Change(wireBytes: $0).version }
            try expect(versions.allSatisfy { $0 > cursor } && versions == versions.sorted(), "a page out of order: \(versions) after \(cursor)")
            pulled += versions
            cursor = page.cursor
            if page.hasMore { continue }
            if finished { break }
            await Task.yield()
        }
        try await pushers.value
        let log = try await pullAll(reader, after: 0).map(\.version)
        try expectEqual(log.count, 200)
        try expectEqual(pulled, log, "the versions pulled while others committed are not the whole log")
        for store in [a, b, reader] { await store.close() }
    }

    @Sendable static func aSnapshotReadPageByPageUnderWritesThenTheLogRebuildsTheSpace(_ db: any ConformanceDatabase) async throws {
        let a = try await seeded(db), b = try await db.open()
        var w = DeviceWriter("d-ana")
        _ = try await a.push((0..<40).map { w.createNote("n\($0)") })
        let writer = Task {
            var w = DeviceWriter("d-bob")
            for round in 0..<20 {
                let key = RecordKey(space: "mission", collection: .notes, record: RecordID(unchecked: "n\(round * 2)"))
                let base = try await b.record(key)?.version ?? 0
                _ = try await b.push([
                    w.mutation(.patch, key, base: base, ["title": .set(.string("edited \(round)"))]),
                    w.createNote("late\(round)"),
                ])
                if round.isMultiple(of: 5) {
                    let gone = RecordKey(space: "mission", collection: .notes, record: RecordID(unchecked: "n\(round * 2 + 1)"))
                    _ = try await b.push([w.mutation(.delete, gone, base: try await b.record(gone)?.version ?? 0, [:])])
                }
                await Task.yield()
            }
        }
        // A new device: snapshot pages while the writer runs, then the log from where they end.
        var held: [RecordKey: (version: Version, values: [FieldName: Value]?)] = [:]
        var cursor: Version = 0
        while true {
            let page = try await a.snapshot(space: "mission", after: cursor, limit: 5)
            for change in try page.encodedChanges.map({ try Change(wireBytes: $0) }) where (held[change.key]?.version ?? 0) < change.version {
                held[change.key] = (change.version, try change.apply(to: nil))
            }
            cursor = page.cursor
            if !page.hasMore { break }
            await Task.yield()
        }
        try await writer.value
        for change in try await pullAll(a, after: cursor) {
            let current = held[change.key]
            try expect(change.previousVersion == 0 || current?.version == change.previousVersion,
                       "\(change.key) at \(current?.version ?? 0), but the log's next change is based on \(change.previousVersion)")
            held[change.key] = (change.version, try change.apply(to: change.previousVersion == 0 ? nil : current?.values ?? nil))
        }
        let live = try await b.records(in: "mission", collection: .notes).filter { !$0.value.deleted }.mapValues(\.values)
        try expectEqual(held.compactMapValues { $0.values }, live, "snapshot + log did not rebuild the space")
        await a.close()
        await b.close()
    }

    /// Every change of the mission after `after`, page by page.
    static func pullAll(_ store: any ServerStore, after: Version) async throws -> [Change] {
        var cursor = after, all: [Change] = []
        while true {
            let page = try await store.pull(space: "mission", after: cursor, limit: 50)
            all += try page.encodedChanges.map { try Change(wireBytes: $0) }
            cursor = page.cursor
            if !page.hasMore { return all }
        }
    }

}

/// What `body` returned or threw.
func outcome<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}

/// Set once, read from any task.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
}
