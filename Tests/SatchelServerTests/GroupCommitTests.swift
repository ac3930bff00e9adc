import Foundation
import SatchelSQLite
import SatchelTestSupport
import SatchelProtocol
import SatchelTesting
import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite

/// Pushes that arrive together share one transaction and one fsync (`SQLiteServerStore`).
@Suite struct GroupCommitTests {
    let dir = TemporaryDirectory()

    @Test func theOldestGoesFirstThenSmallPushesThenTheRestWithinTheBudget() {
        #expect(GroupCommit.pick(sizes: [], budget: 100) == [])
        // The oldest is taken even when it alone is over the budget.
        #expect(GroupCommit.pick(sizes: [500, 1, 2], budget: 100) == [0])
        // Small pushes jump ahead of bulk ones that arrived before them.
        #expect(GroupCommit.pick(sizes: [50, 60, 1, 40, 3], budget: 100) == [0, 2, 4, 3])
        #expect(GroupCommit.pick(sizes: [10, 20, 30], budget: 1000) == [0, 1, 2])
    }

    func seeded() async throws -> SQLiteServerStore {
        let store = try SQLiteServerStore(path: dir.file("server.sqlite"))
        for space in ["mission", "broken"] { try await store.createSpace(SpaceID(unchecked: space), now: 1) }
        return store
    }

    @Test func concurrentPushesAreAllAppliedOnceInFewerCommits() async throws {
        let store = try await seeded()
        let devices = 40, perDevice = 25
        let results = try await withThrowingTaskGroup(of: [MutationResult].self) { group in
            for d in 0..<devices {
                group.addTask {
                    var w = DeviceWriter(DeviceID(unchecked: "d-\(d)"))
                    // Every fourth device saves one note at a time, the others upload a backlog.
                    if d % 4 == 0 {
                        var all: [MutationResult] = []
                        for n in 0..<perDevice { all += try await store.push([w.createNote("n-\(d)-\(n)")]) }
                        return all
                    }
                    return try await store.push((0..<perDevice).map { w.createNote("n-\(d)-\($0)") })
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(results.count == devices * perDevice)
        #expect(results.allSatisfy { $0.status == .applied })
        // Every version handed out once, none skipped.
        #expect(results.map(\.version).sorted() == Array(1...Version(devices * perDevice)))
        let pushes = devices / 4 * perDevice + devices * 3 / 4
        let commits = await store.groupCommits
        #expect(commits < pushes, "\(commits) commits for \(pushes) pushes")
        let page = try await store.pull(space: "mission", after: 0, limit: 5000)
        #expect(page.encodedChanges.count == devices * perDevice)
        await store.close()
    }

    @Test func aStorageErrorFailsOnlyThePushThatHitIt() async throws {
        let path = dir.file("server.sqlite")
        let store = try await seeded()
        // A disk-level failure for writes to one space, from outside the store.
        let other = try Database(path: path)
        try other.execute("""
            CREATE TRIGGER refuse_broken BEFORE INSERT ON changes WHEN NEW.space = 'broken'
            BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END;
            """)
        other.close()
        let outcomes = await withTaskGroup(of: (String, Result<[MutationResult], any Error>).self) { group in
            for d in 0..<12 {
                group.addTask {
                    var w = DeviceWriter(DeviceID(unchecked: "d-\(d)"))
                    let space: SpaceID = d % 3 == 0 ? "broken" : "mission"
                    let batch = (0..<5).map { w.createNote("n-\(d)-\($0)", space: space) }
                    do { return (space.rawValue, .success(try await store.push(batch))) } catch { return (space.rawValue, .failure(error)) }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        for (space, outcome) in outcomes {
            switch (space, outcome) {
            case ("broken", .failure(let error)): #expect("\(error)".contains("simulated write failure"))
            case ("mission", .success(let results)): #expect(results.allSatisfy { $0.status == .applied })
            default: Issue.record("push to \(space): unexpected \(outcome)")
            }
        }
        // The failed pushes left nothing behind and took no versions: the others are 1…40.
        let page = try await store.pull(space: "mission", after: 0, limit: 100)
        #expect(page.encodedChanges.count == 40)
        #expect(page.head == 40)
        #expect(try await store.pull(space: "broken", after: 0, limit: 100).encodedChanges.isEmpty)
        // A failed push is not remembered as done: once the disk is fixed it applies.
        let fix = try Database(path: path)
        try fix.execute("DROP TRIGGER refuse_broken")
        fix.close()
        var w = DeviceWriter("d-0")
        let retry = try await store.push((0..<5).map { w.createNote("n-0-\($0)", space: "broken") })
        #expect(retry.allSatisfy { $0.status == .applied })
        await store.close()
    }

    @Test func admissionLetsAtMostItsLimitInAndEveryoneThrough() async throws {
        // Places taken now, and the most ever taken at once.
        let gauge = Locked((now: 0, peak: 0))
        let admission = Admission(limit: 3)
        let done = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<20 {
                group.addTask {
                    try await admission.run {
                        gauge.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) }
                        try await Task.sleep(for: .milliseconds(2))
                        gauge.withLock { $0.now -= 1 }
                        return i
                    }
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(done.sorted() == Array(0..<20))
        #expect(gauge.value.peak == 3)
        // A holder that throws gives its place back.
        await #expect(throws: CancellationError.self) { try await admission.run { throw CancellationError() } }
        #expect(try await admission.run { 1 } == 1)
    }

    @Test func readsAreServedWhileAWriteIsQueuedAndSeeEachCommit() async throws {
        let store = try await seeded()
        var w = DeviceWriter("d-1")
        for n in 0..<20 {
            _ = try await store.push([w.createNote("n\(n)")])
            // A reader connection sees the commit that was just acknowledged.
            #expect(try await store.head(of: "mission").head == Version(n + 1))
        }
        await store.close()
        await #expect(throws: StoreError.self) { try await store.pull(space: "mission", after: 0, limit: 10) }
    }
}
