import Foundation
import SatchelClient
import SatchelProtocol
import SatchelTestSupport
import SatchelTesting
import Testing

/// Three real `satchel-server` processes on one PostgreSQL database (issue 16): devices served
/// by whichever instance a request reaches, an instance killed with kill -9 under pushes and
/// restarted, live connections on one instance hearing writes and revocations made through
/// another.
@Suite(.serialized) struct ClusterTests {
    /// Real SatchelClient devices (their outbox, sync session and the shipped HTTP transport),
    /// each request to a random instance; a push cut by a dead instance is retried by the
    /// device's next sync, on whichever live instance that reaches.
    @Test func killNineOfOneInstanceMidPushLosesNothingAcknowledgedAndDoublesNothing() async throws {
        let cluster = try await ClusterWorld(users: ["ana", "bob"])
        defer { cluster.terminateAll() }
        let ledger = ClusterLedger()
        var devices: [SatchelClient] = []
        for (i, user) in (["ana", "ana", "bob", "bob"] as [UserID]).enumerated() {
            let client = try SatchelClient(directory: cluster.dir.file("device-\(i)"), transport: { _, token, _ in
                ClusterTransport(cluster: cluster, token: token, ledger: ledger)
            })
            try await client.join(url: cluster.randomURL(), code: try await cluster.enrollmentCode(for: user), label: "device-\(i)")
            devices.append(client)
        }

        // Each device writes notes, edits some of anyone's (text merges across devices), and
        // syncs, in a loop; a sync failing on a dead instance is tried again, as a device does.
        let stop = Locked(false)
        let writers = devices.enumerated().map { i, device in
            Task { () async throws -> (syncs: Int, failed: Int) in
                var syncs = 0, failed = 0, written = 0
                while !stop.value {
                    for _ in 0..<Int.random(in: 1...6) {
                        _ = try await device.createNote(space: ClusterWorld.space, title: "d\(i)-\(written)", body: "written by device \(i)")
                        written += 1
                    }
                    if Bool.random(), let note = try await device.notes(space: ClusterWorld.space).randomElement() {
                        let body = note.values["body"]?.textValue ?? ""
                        try await device.updateNote(note.key, body: body + "\nedit \(syncs) by device \(i)")
                    }
                    do {
                        try await device.sync()
                        syncs += 1
                    } catch is TransportError {
                        failed += 1
                        try await Task.sleep(for: .milliseconds(20))
                    }
                }
                return (syncs, failed)
            }
        }

        // Kill an instance at a random moment, let the others carry the load a little, restart
        // it on the same database. At least three kills, and more until some push was cut
        // under way (the case this test is about), up to twenty (on a loaded machine pushes
        // are slow to start, and ten kills have cut none).
        var kills = 0
        while kills < 3 || (ledger.unanswered.value.isEmpty && kills < 20) {
            try await Task.sleep(for: .milliseconds(Int.random(in: 300...900)))
            let slot = Int.random(in: 0..<cluster.count)
            cluster.kill9(slot)
            kills += 1
            try await Task.sleep(for: .milliseconds(Int.random(in: 50...400)))
            try await cluster.restart(slot)
        }
        stop.value = true
        var syncs = 0, failedSyncs = 0
        for writer in writers {
            let (s, f) = try await writer.value
            syncs += s
            failedSyncs += f
        }

        // Everything up: every device sends what is left, then (after all have) pulls once more.
        for device in devices {
            var attempts = 0
            while try await device.status().pending > 0 {
                attempts += 1
                try #require(attempts <= 10, "a device still has pending writes after 10 syncs with every instance up")
                try await device.sync()
            }
        }
        for device in devices { try await device.sync() }

        let results = ledger.results.value
        let unanswered = ledger.unanswered.value
        let retried = unanswered.filter { results[$0] != nil }
        print("cluster kill test: \(kills) kill -9 of 3 instances, \(syncs) syncs (\(failedSyncs) failed on a dead instance), \(ledger.pushes.value) push answers, \(results.count) mutations answered, \(unanswered.count) sent in pushes cut by a kill (\(retried.count) answered on retry)")
        // Whether a kill lands inside a push is chance: on a fresh CI clone twenty kills cut none.
        // The checks below (nothing lost, nothing doubled) hold either way; say when the case
        // this test is about did not happen, rather than fail the suite on chance.
        if unanswered.isEmpty { print("cluster kill test: WARNING no push was cut by a kill in \(kills) kills") }
        #expect(retried == unanswered, "a cut push's mutations were never answered")

        // No live instance ever failed a request: every failure is a dead instance's link.
        let serverFailures = ledger.serverFailures
        #expect(serverFailures.isEmpty, "instances answered with failures: \(serverFailures.prefix(5).map { "\($0.route) \($0.url): \($0.error.codeName) \($0.error.message)" })")

        // A mutation answered more than once (its first answer lost, or sent again) got the same
        // answer every time: the retry on another instance reads the first result.
        for (id, answers) in results where Set(answers).count > 1 {
            Issue.record("\(id) was answered differently: \(answers)")
        }
        let acknowledged = results.compactMapValues(\.first).filter { $0.value.status != .rejected }
        #expect(acknowledged.count == results.count, "rejected: \(results.filter { $0.value.first?.status == .rejected })")

        // The server's log, pulled by a device of its own: every acknowledged mutation once, at
        // the version it was told, versions never reused.
        let witness = try await HTTPDevice.enroll(url: cluster.randomURL(), code: try await cluster.enrollmentCode(for: "ana"), label: "witness")
        let log = try await witness.pullAll(ClusterWorld.space)
        let versions = log.map(\.version)
        #expect(Set(versions).count == versions.count, "a version appears twice in the log")
        #expect(versions == versions.sorted())
        var byMutation: [MutationID: [Change]] = [:]
        for change in log where change.key.collection == .notes {
            if let m = change.mutation { byMutation[m, default: []].append(change) }
        }
        #expect(byMutation.values.allSatisfy { $0.count == 1 }, "mutations applied twice: \(byMutation.filter { $0.value.count > 1 }.keys.prefix(5))")
        // A merge that changes nothing (an edit that lost to a newer value everywhere, or a patch
        // setting what the record already holds, answered `applied`) is
        // answered with the record's version and logs no change of its own: that is the only
        // way an acknowledged mutation may be missing from the log.
        let notesAt = Dictionary(log.filter { $0.key.collection == .notes }.map { ($0.version, $0) }, uniquingKeysWith: { a, _ in a })
        var unchanged = 0
        for (id, result) in acknowledged {
            let changes = byMutation[id] ?? []
            if changes.isEmpty && result.status != .rejected && notesAt[result.version] != nil {
                unchanged += 1
                continue
            }
            #expect(changes.count == 1, "acknowledged \(id) (\(result)) is in the log \(changes.count) times; at v\(result.version) the log has \(log.filter { $0.version == result.version }); unanswered once: \(unanswered.contains(id)), answers \(results[id] ?? [])")
            if let change = changes.first { #expect(change.version == result.version, "\(id) told v\(result.version), logged at v\(change.version)") }
        }
        #expect(Set(byMutation.keys).isSubset(of: Set(acknowledged.keys)), "the log holds mutations no device was told about")
        print("cluster kill test: \(log.count) changes in the log, \(unchanged) acknowledged merges that changed nothing")

        // Every device equals the server: the same notes, each at the server's version with its
        // values.
        let store = try await TestPostgres.open(cluster.database)
        let server = try await store.records(in: ClusterWorld.space, collection: .notes)
        await store.close()
        #expect(server.count > 50, "the test should write a fair number of notes (got \(server.count))")
        for (i, device) in devices.enumerated() {
            let status = try await device.status()
            #expect(status.pending == 0 && status.rejected == 0, "device \(i): \(status.pending) pending, \(status.rejected) rejected")
            let notes = try await device.notes(space: ClusterWorld.space)
            #expect(Set(notes.map(\.key)) == Set(server.filter { !$0.value.deleted }.keys), "device \(i) holds other notes than the server")
            for (key, state) in server {
                let local = try await device.record(key)
                #expect(local?.confirmedVersion == state.version && local?.confirmed == state.values, "device \(i) differs on \(key.record): v\(local?.confirmedVersion ?? 0), server v\(state.version)")
            }
        }
        for device in devices { await device.close() }
    }

    /// The live events of `device` on `instance`, once the first heartbeat says it is
    /// subscribed.
    static func watch(_ device: HTTPDevice, on instance: ServerProcess) async throws -> (ChangeFeedTests.Watcher, Task<Void, any Error>) {
        let (events, connection) = liveEvents(port: instance.port, token: device.token)
        let watcher = ChangeFeedTests.Watcher(events)
        for _ in 0..<1000 where watcher.received.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(20)) }
        guard case .heartbeat? = watcher.received.withLock({ $0.first }) else {
            connection.cancel()
            throw TestFailure("no heartbeat on the live connection to \(instance.url)")
        }
        return (watcher, connection)
    }

    /// The median of measured delays.
    static func median(_ delays: [Duration]) -> Duration { delays.sorted()[delays.count / 2] }

    static func describe(_ delays: [Duration]) -> String {
        delays.map { String(format: "%.0f ms", Double($0.components.attoseconds) / 1e15 + Double($0.components.seconds) * 1000) }.joined(separator: ", ")
    }

    /// Instance A commits, instance B's feed hears it (NOTIFY, polling besides) and pokes its
    /// live devices. Measured seven times: the median must be within the issue's second (it is
    /// tens of milliseconds on an idle machine), every one within a few seconds, so a suite
    /// loading both cores does not make it flaky while a feed that only polled slowly would
    /// still fail. Heartbeats every 30 s: only the feed can announce the note.
    @Test func aDeviceLiveOnOneInstanceHearsANoteWrittenThroughAnotherWithinASecond() async throws {
        let cluster = try await ClusterWorld(extraArguments: ["--heartbeat-seconds", "30"])
        defer { cluster.terminateAll() }
        let a = cluster.instance(0), b = cluster.instance(1)
        let writer = try await HTTPDevice.enroll(url: a.url, code: try await cluster.enrollmentCode(for: "ana"), label: "writer")
        let listener = try await HTTPDevice.enroll(url: b.url, code: try await cluster.enrollmentCode(for: "ana"), label: "listener")
        let (watcher, connection) = try await Self.watch(listener, on: b)
        defer { connection.cancel() }

        var fromAck: [Duration] = [], fromWrite: [Duration] = []
        var notes = DeviceWriter(writer.id, physical: Int64(Date().timeIntervalSince1970 * 1000))
        for i in 0..<7 {
            let written = ContinuousClock.now
            let results = try await writer.push([notes.createNote("cluster-note-\(i)")])
            let acknowledged = ContinuousClock.now
            let event = await watcher.next(within: .seconds(10))
            let heard = ContinuousClock.now
            guard case .advanced(let space, let head)? = event else {
                Issue.record("the listener on B heard \(String(describing: event)) for note \(i) written through A")
                return
            }
            #expect(space == ClusterWorld.space && head == results.first?.version)
            fromAck.append(heard - acknowledged)
            fromWrite.append(heard - written)
            try await Task.sleep(for: .milliseconds(Int.random(in: 50...300)))
        }
        print("cluster live: a note written through A heard on B \(Self.describe(fromAck)) after its acknowledgement (\(Self.describe(fromWrite)) after the push was sent)")
        #expect(Self.median(fromAck) < .seconds(1), "median \(Self.median(fromAck))")
        #expect(fromAck.allSatisfy { $0 < .seconds(5) }, "\(fromAck)")
    }

    /// A revocation through A's admin API (`device revoke --server`) closes the device's live
    /// connection on C, with the `revoked` event, through C's feed; and the device's next
    /// request, on B, is refused. Five devices, so one slow moment of a busy machine does not
    /// decide the test; heartbeats every 30 s, so only the feed can close the connection.
    @Test func revokingThroughOneInstanceClosesTheLiveConnectionOnAnotherAtOnce() async throws {
        let cluster = try await ClusterWorld(extraArguments: ["--heartbeat-seconds", "30"])
        defer { cluster.terminateAll() }
        let a = cluster.instance(0), b = cluster.instance(1), c = cluster.instance(2)
        let token = try await cluster.operatorToken()
        var delays: [Duration] = [], sinceStart: [Duration] = []
        for i in 0..<5 {
            let device = try await HTTPDevice.enroll(url: c.url, code: try await cluster.enrollmentCode(for: "ana"), label: "revoked-\(i)")
            let (watcher, connection) = try await Self.watch(device, on: c)
            defer { connection.cancel() }
            let ended = Locked<ContinuousClock.Instant?>(nil)
            let closing = Task {
                _ = await connection.result
                ended.value = ContinuousClock.now
            }
            defer { closing.cancel() }

            let started = ContinuousClock.now
            _ = try await ServerProcess.run(["device", "revoke", device.id.rawValue, "--server", a.url, "--token", token])
            let revoked = ContinuousClock.now
            let event = await watcher.next(within: .seconds(10))
            guard case .revoked? = event else {
                Issue.record("device \(i)'s live connection on C got \(String(describing: event)) after its revocation through A")
                return
            }
            // The server closes the connection after the event: the client's connection ends.
            for _ in 0..<500 where ended.value == nil { try await Task.sleep(for: .milliseconds(10)) }
            guard let closed = ended.value else {
                Issue.record("device \(i)'s live connection on C stayed open after the revoked event")
                return
            }
            // The command's process may still be exiting when C closes the connection.
            delays.append(max(.zero, closed - revoked))
            sinceStart.append(closed - started)
            var onB = device
            onB.url = b.url
            let (status, _) = try await onB.send("/v1/hello", .helloRequest(HelloRequest(client: "cluster-test")))
            #expect(status == 401, "a revoked device's hello on B answered \(status)")
        }
        print("cluster revoke: live connections on C closed \(Self.describe(delays)) after the revocation through A returned (\(Self.describe(sinceStart)) after the command started)")
        #expect(Self.median(delays) < .seconds(1), "median \(Self.median(delays))")
        #expect(delays.allSatisfy { $0 < .seconds(5) }, "\(delays)")
    }
}
