import Foundation
import SatchelTestSupport
import SatchelProtocol
import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite
import SatchelTesting

/// Every write path reaches the store's one change feed, and through it live devices, whoever
/// wrote: the running server, a second store object on its database, or the operator commands
/// in another process.
@Suite(.serialized) struct ChangeFeedTests {
    /// A live connection's events as they arrive, read by a task of their own, so a test can
    /// wait for the next one with a deadline.
    final class Watcher: Sendable {
        let received = Locked<[LiveEvent]>([])
        let reader: Task<Void, Never>
        init(_ events: AsyncStream<LiveEvent>) {
            let received = received
            reader = Task { for await e in events { received.withLock { $0.append(e) } } }
        }
        deinit { reader.cancel() }

        /// The next event that is not a heartbeat, if one arrives within `limit`.
        func next(within limit: Duration) async -> LiveEvent? {
            let deadline = ContinuousClock.now + limit
            while ContinuousClock.now < deadline {
                let event = received.withLock { events -> LiveEvent? in
                    while let first = events.first {
                        events.removeFirst()
                        if case .heartbeat = first { continue }
                        return first
                    }
                    return nil
                }
                if let event { return event }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return nil
        }
    }

    /// How long a test waits for an event. The promise is "within a second", and on an idle
    /// machine it is met with room (the feed looks every 250 ms; the test prints the delay);
    /// a suite loading both cores has delayed one past 5 s. Heartbeats come every 300 s in these
    /// tests, so an event inside this bound can only have come from the feed.
    static let bound: Duration = .seconds(20)

    @Test func briefingLoadAndOperatorCommandsWhileServingReachWatchingDevicesWithinASecond() async throws {
        // Heartbeats every 300 s: the revocation must come from the feed, not the heartbeat check.
        let world = try await ServerWorld(users: ["ana"], roles: ServerWorld.missionAndBriefing, extraArguments: ["--heartbeat-seconds", "300"])
        let server = world.server
        defer { _ = server.terminate() }
        let phone = try await HTTPDevice.enroll(url: server.url, code: try await world.enrollmentCode(for: "ana"), label: "phone")
        let (events, client) = liveEvents(port: server.port, token: phone.token)
        defer { client.cancel() }
        let watcher = Watcher(events)
        // The first heartbeat says the connection is subscribed.
        for _ in 0..<500 where watcher.received.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(20)) }
        guard case .heartbeat? = watcher.received.withLock({ $0.first }) else { Issue.record("no heartbeat"); return }

        // `briefing load` in another process, on the data directory the server serves.
        let briefing = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Data/china-briefing.json").path
        _ = try await ServerProcess.run(["briefing", "load", briefing, "--data", world.data])
        // "Within a second" holds with room on an idle machine (the feed looks every 250 ms);
        // the bound leaves room for a loaded machine, and is far inside this test's 300 s
        // heartbeat, the only way another process's writes were noticed before the feed.
        let started = ContinuousClock.now
        let loaded = await watcher.next(within: Self.bound)
        guard case .advanced(let space, let head)? = loaded else {
            let late = await watcher.next(within: .seconds(20))
            Issue.record("no advanced event for the briefing load within \(Self.bound) (\(String(describing: late)) after \(ContinuousClock.now - started))")
            return
        }
        #expect(space == "briefing" && head > 0)
        print("briefing load announced \(ContinuousClock.now - started) after the command exited")

        // An operator write through a second store object on the same database, in process.
        let headBefore = head
        try await ServerWorld.withStore(world.data) { store in
            var op = DeviceWriter("operator")
            var note = op.createNote("from-the-desk")
            note.id = "operator-desk-1"
            _ = try await store.operatorWrite([note])
        }
        let written = await watcher.next(within: Self.bound)
        #expect(written.map { if case .advanced(let s, let h) = $0 { s == "mission" && h > headBefore } else { false } } == true, "\(String(describing: written))")

        // An operator's re-bootstrap request pokes the device (and only it) to sync.
        _ = try await ServerProcess.run(["device", "rebootstrap", phone.id.rawValue, "--space", "mission", "--data", world.data])
        let poked = await watcher.next(within: Self.bound)
        #expect(poked.map { if case .advanced(let s, _) = $0 { s == "mission" } else { false } } == true, "\(String(describing: poked))")

        // Disabling the user closes the connections of their other devices too.
        let laptop = try await HTTPDevice.enroll(url: server.url, code: try await world.enrollmentCode(for: "ana"), label: "laptop")
        let (laptopEvents, laptopClient) = liveEvents(port: server.port, token: laptop.token)
        defer { laptopClient.cancel() }
        let laptopWatcher = Watcher(laptopEvents)
        for _ in 0..<500 where laptopWatcher.received.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(20)) }

        // A revocation by the local command closes the live connection within a second, with
        // the `revoked` event, long before the next heartbeat would have noticed.
        _ = try await ServerProcess.run(["device", "revoke", phone.id.rawValue, "--data", world.data])
        let revoked = await watcher.next(within: Self.bound)
        guard case .revoked? = revoked else { Issue.record("expected revoked, got \(String(describing: revoked))"); return }
        _ = try await ServerProcess.run(["user", "disable", "ana", "--data", world.data])
        let disabled = await laptopWatcher.next(within: Self.bound)
        guard case .revoked? = disabled else { Issue.record("expected revoked for the disabled user, got \(String(describing: disabled))"); return }
    }

    @Test func aStoreObjectHearsWhatAnotherObjectOnItsDatabaseCommitted() async throws {
        let dir = TemporaryDirectory()
        let path = dir.file("server.sqlite")
        let serving = try SQLiteServerStore(path: path), other = try SQLiteServerStore(path: path)
        try await serving.provision(users: ["ana"], roles: ["mission": .writer])
        let feed = serving.feed.subscribe()
        let tail = Task { try await serving.tail.runForTests() }
        defer { tail.cancel() }
        var iterator = feed.makeAsyncIterator()

        var ana = DeviceWriter("d-ana")
        _ = try await other.push([ana.createNote("n1"), ana.createNote("n2")])
        #expect(await iterator.next() == .advanced(space: "mission", head: 2, changes: 2))
        try await other.createEnrollment(codeHash: [1], user: "ana", label: nil, expiresAt: 10_000, now: 1)
        _ = try await other.redeemEnrollment(codeHash: [1], device: "d-ana", label: nil, tokenHash: [2], client: nil, now: 2)
        try await other.revoke("d-ana", now: 3)
        #expect(await iterator.next() == .revoked(device: "d-ana"))
        _ = try await other.compact("mission", through: 1, dryRun: false)
        #expect(await iterator.next() == .compacted(space: "mission", horizon: 1))
        // Its own commits are published at once: with a poll interval of an hour, only the wake
        // after the commit can publish them.
        let quiet = try SQLiteServerStore(path: path, feedPollInterval: .seconds(3600))
        var heard = quiet.feed.subscribe().makeAsyncIterator()
        let quietTail = Task { try await quiet.tail.runForTests() }
        defer { quietTail.cancel() }
        _ = try await quiet.push([ana.createNote("n3")])
        #expect(await heard.next() == .advanced(space: "mission", head: 3, changes: 1))
        #expect(await iterator.next() == .advanced(space: "mission", head: 3, changes: 1))
        await quiet.close()
        await other.close()
        await serving.close()
    }

    @Test func memoryStoreObjectsSharingADatabaseShareItsFeed() async throws {
        let first = MemoryServerStore()
        let second = MemoryServerStore(sharing: first)
        try await first.provision(users: ["ana"], roles: ["mission": .writer])
        var iterator = first.feed.subscribe().makeAsyncIterator()
        var ana = DeviceWriter("d-ana")
        _ = try second.push([ana.createNote("n1")])
        #expect(await iterator.next() == .advanced(space: "mission", head: 1, changes: 1))
        #expect(try first.record(RecordKey(space: "mission", collection: .notes, record: "n1")) != nil)
        // Closing one object leaves the other serving.
        second.close()
        #expect(try first.head(of: "mission").head == 1)
    }
}

extension SQLiteFeedTail {
    /// The tail's loop without a service group around it.
    func runForTests() async throws {
        while !Task.isCancelled {
            await wake.wait(timeout: interval)
            try await poll()
        }
    }
}
