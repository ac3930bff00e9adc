public import SatchelProtocol

extension SatchelClient {
    /// Pushes the outbox, then pulls every space page by page. Each step is one local
    /// transaction, so an interrupted sync (killed, offline) carries on where it stopped.
    /// - Throws: `TransportError` (`.offline` within seconds when the server is unreachable).
    ///
    /// Syncs run one at a time (a second waits for the first): a pull may then leave out the
    /// device's own writes, since none of its pushes can be answered meanwhile.
    @discardableResult
    public func sync(pageSize: Int = 500, progress: @Sendable (SyncProgress) -> Void = { _ in }) async throws -> SyncReport {
        if syncing { await withCheckedContinuation { waitingSyncs.append($0) } }
        syncing = true
        defer {
            if waitingSyncs.isEmpty { syncing = false } else { waitingSyncs.removeFirst().resume() }
        }
        let transport = try transport()
        do {
            let (report, spaces) = try await sync(transport, pageSize: pageSize, progress: progress)
            // One durable write to end the sync: the spaces with their new heads, the time.
            let finished = now()
            try storage.inTransaction { s in
                try s.setMeta("spaces", Self.encode(spaces))
                try s.setMetaString("last_success", String(finished))
                try s.setMetaString("last_error", nil)
            }
            return report
        } catch {
            try? storage.setMetaString("last_error", "\(error)")
            try? storage.setMetaString("last_error_at", String(now()))
            throw error
        }
    }

    func sync(_ transport: any SyncTransport, pageSize: Int, progress: @Sendable (SyncProgress) -> Void) async throws -> (SyncReport, [SpaceAccess]) {
        var report = SyncReport()
        var p = SyncProgress(phase: .connecting, pushed: 0, toPush: try storage.pendingCount(), pulled: 0, toPull: 0, bytesSent: 0, bytesReceived: 0)
        func bytes() {
            if let http = transport as? HTTPTransport { (p.bytesSent, p.bytesReceived) = http.bytes }
        }
        progress(p)
        let hello = try await transport.hello(HelloRequest(client: Self.clientName, features: [SatchelFeature.deviceState]))
        try saveSpaces(hello.spaces)
        try saveLimits(hello.limits)
        switch try storage.recoverIfWentBack(hello.deviceState, physicalMillis: now()) {
        case .no: break
        case .recovered:
            // Restored from a backup: the server holds writes of this device that its store does
            // not, and its pulls left them out. Pull everything again; unsent work stays.
            for space in hello.spaces { try storage.resetSpace(space.space) }
            report.restored = true
            report.rebootstrapped = hello.spaces.map(\.space)
        case .copied:
            throw ClientError.copied()
        }
        report.clock = try storage.settleClock(
            serverTime: hello.serverTime, maxSkewMillis: hello.limits.maxClockSkewMillis, physicalMillis: now(), serverHolds: hello.deviceState)

        p.phase = .pushing
        // A push the server fails or refuses whole (a full disk, a limit, an answer damaged on
        // the way) must not stop the pull: the device still gets everyone else's work. No link
        // at all (no server code) or a refused token would fail the pull too.
        var pushFailure: (any Error)?
        do {
            try await pushOutbox(transport, hello, &report, &p, progress)
        } catch let error as TransportError where (error.kind == .offline && error.code == nil) || error.kind == .unauthorized {
            throw error
        } catch {
            pushFailure = error
        }
        if report.pushed.copied > 0 { throw ClientError.copied() }

        p.phase = .pulling
        for space in hello.spaces {
            if try storage.mustRebootstrap(space.space, horizon: space.horizon) {
                // Older than the server's history: rebuild the space, keeping unsent work.
                try storage.resetSpace(space.space)
                report.rebootstrapped.append(space.space)
            }
            p.toPull += max(0, Int(space.head - (try storage.cursor(of: space.space))))
        }
        progress(p)
        for space in hello.spaces {
            var resets = 0
            while true {
                // Syncs run one at a time, so no push of this device is in flight now.
                // After a failed push the server may hold writes whose answer never came: pull
                // them back rather than leave them out.
                let request = try storage.pullRequest(
                    space.space, horizon: space.horizon, limit: min(pageSize, hello.limits.maxPageSize),
                    omitOwnAsWritten: hello.asWrittenSupported && pushFailure == nil)
                let page: PullResponse
                do {
                    page = try await transport.pull(request)
                } catch let error as TransportError where error.kind == .cursorExpired && resets == 0 {
                    resets += 1
                    try storage.resetSpace(space.space)
                    report.rebootstrapped.append(space.space)
                    continue
                }
                do {
                    try storage.applyPage(page, of: request, physicalMillis: now())
                } catch is ReplicaGap where resets == 0 {
                    resets += 1
                    try storage.resetSpace(space.space)
                    report.rebootstrapped.append(space.space)
                    continue
                }
                report.pulled += page.changes.count
                p.pulled += page.changes.count
                p.toPull = max(p.toPull, p.pulled)
                bytes()
                progress(p)
                if !page.hasMore { break }
            }
        }
        if let pushFailure { throw pushFailure }
        // Writes made while the pull ran (or requeued with whole text) go out now; writes that
        // wait for the clock would only be refused again.
        if try storage.pendingCount() > report.pushed.waitingForClock { try await pushOutbox(transport, hello, &report, &p, progress) }
        p.phase = .done
        bytes()
        progress(p)
        report.bytesSent = p.bytesSent
        report.bytesReceived = p.bytesReceived
        report.openConflicts = try conflicts().count
        return (report, hello.spaces)
    }

    /// Pushes the outbox. Batches go one at a time, in order (a later batch may build on an
    /// earlier one). The next is read and encoded while the server applies the one before, and
    /// sent as soon as that one is answered: the device records the answer while the server
    /// applies the next.
    func pushOutbox(
        _ transport: any SyncTransport, _ hello: HelloResponse, _ report: inout SyncReport, _ p: inout SyncProgress,
        _ progress: (SyncProgress) -> Void
    ) async throws {
        guard let oldest = try nextPush(after: 0, hello, &report) else { return }
        var current = oldest
        var next: (push: EncodedPush, last: Int64)?
        async let first = transport.push(oldest.push)
        next = try nextPush(after: current.last, hello, &report)
        var response = try await first
        while true {
            if response.results.contains(where: \.mayBeResent) {
                // A write sent again whole goes before every batch after it: record the answer
                // first, then start again from the oldest pending write.
                try record(response, of: current.push, transport, &report, &p, progress)
                guard let restart = try nextPush(after: 0, hello, &report) else { return }
                current = restart
                response = try await transport.push(current.push)
                next = try nextPush(after: current.last, hello, &report)
                continue
            }
            guard let following = next else {
                try record(response, of: current.push, transport, &report, &p, progress)
                return
            }
            async let answer = transport.push(following.push)
            try record(response, of: current.push, transport, &report, &p, progress)
            next = try nextPush(after: following.last, hello, &report)
            current = following
            response = try await answer
        }
    }

    /// The next push after outbox entry `after`, built from the entries' stored encodings and cut
    /// by the server's limits; nil when nothing is pending.
    func nextPush(after: Int64, _ hello: HelloResponse, _ report: inout SyncReport) throws -> (push: EncodedPush, last: Int64)? {
        let batchSize = max(1, min(hello.limits.maxMutationsPerPush, 500)), maxBytes = hello.limits.maxPushMutationBytes
        var batch = try storage.pendingEncoded(after: after, limit: batchSize, maxBytes: maxBytes)
        // A write queued before the server's limits shrank (or resent whole, and grown) that no
        // push can carry is set aside with the reason, rather than stop every push after it.
        while batch.mutations.count == 1, batch.mutations[0].count > maxBytes {
            try storage.setAside(seq: batch.last, ValidationError(
                .tooLong, "this write is \(batch.mutations[0].count) bytes encoded and the server takes at most \(maxBytes) in one push; shorten it or split it into several notes"))
            report.pushed.rejected += 1
            batch = try storage.pendingEncoded(after: batch.last, limit: batchSize, maxBytes: maxBytes)
        }
        if batch.mutations.isEmpty { return nil }
        return (EncodedPush(encodedMutations: batch.mutations, reportAsWritten: hello.asWrittenSupported), batch.last)
    }

    /// Records a push's answers, and shows the progress.
    func record(
        _ response: PushResponse, of batch: EncodedPush, _ transport: any SyncTransport, _ report: inout SyncReport, _ p: inout SyncProgress,
        _ progress: (SyncProgress) -> Void
    ) throws {
        let summary = try storage.acknowledge(response.results, serverClock: response.clock, physicalMillis: now())
        report.pushed += summary
        p.pushed += batch.count - summary.resent
        if let http = transport as? HTTPTransport { (p.bytesSent, p.bytesReceived) = http.bytes }
        progress(p)
    }

    /// Sends the outbox once under the current identity and records the answers, one batch at a
    /// time, without hello's checks: before `join(again:)` gives what is still queued a new
    /// identity, so a write the server stored (its answer lost) is acknowledged, not sent twice.
    func settleOutbox() async throws {
        let transport = try transport()
        let hello = try await transport.hello(HelloRequest(client: Self.clientName))
        var report = SyncReport(), after: Int64 = 0
        while let batch = try nextPush(after: after, hello, &report) {
            let response = try await transport.push(batch.push)
            try storage.acknowledge(response.results, serverClock: response.clock, physicalMillis: now())
            after = batch.last
        }
    }

    /// Live mode until cancelled: holds the live connection, syncs once the server greets it
    /// (so a change made meanwhile is announced, not missed), then syncs whenever the server says
    /// a space advanced. A link that misses three heartbeats is treated as dead; reconnects back
    /// off exponentially with jitter (1 s … 60 s). A revoked device stops.
    public func watch(heartbeat: Duration = .seconds(10), onSync: @escaping @Sendable (Result<SyncReport, any Error>) -> Void) async throws {
        var backoff: Double = 1
        var rng = SystemRandomNumberGenerator()
        while !Task.isCancelled {
            let lastHeard = ManagedClock()
            do {
                let transport = try transport()
                let events = try await transport.live()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await event in events {
                            let first = await lastHeard.touch()
                            // A long sync (a backlog, a first bootstrap) reads no events: the
                            // watchdog waits for it rather than calling the link dead.
                            func syncNow() async throws {
                                await lastHeard.setSyncing(true)
                                do {
                                    onSync(.success(try await self.sync(progress: { _ in })))
                                    await lastHeard.setSyncing(false)
                                } catch {
                                    await lastHeard.setSyncing(false)
                                    throw error
                                }
                            }
                            switch event {
                            case .revoked(let message): throw TransportError(.unauthorized, code: "token_revoked", message)
                            case .advanced: try await syncNow()
                            // The server's greeting: subscribed, so sync now.
                            case .heartbeat where first: try await syncNow()
                            case .heartbeat: break
                            }
                        }
                    }
                    group.addTask {
                        while true {
                            try await Task.sleep(for: heartbeat)
                            if await lastHeard.silence() > heartbeat * 3 {
                                throw TransportError(.offline, "the live connection went quiet; reconnecting")
                            }
                        }
                    }
                    try await group.next()
                    group.cancelAll()
                }
            } catch let error as TransportError where error.kind != .offline {
                // Revoked, refused or not a Satchel server: retrying will not help.
                onSync(.failure(error))
                throw error
            } catch let error as ClientError {
                onSync(.failure(error))
                throw error
            } catch is CancellationError {
                return
            } catch {
                onSync(.failure(error))
            }
            // A connection that was up starts the backoff again from 1 s.
            if await lastHeard.heard { backoff = 1 }
            let jitter = Double.random(in: 0.5...1.5, using: &rng)
            try? await Task.sleep(for: .milliseconds(Int(backoff * jitter * 1000)))
            backoff = min(60, backoff * 2)
        }
    }
}

/// When the live connection last heard from the server.
actor ManagedClock {
    private var last: ContinuousClock.Instant = .now
    /// Whether anything was heard on this connection.
    private(set) var heard = false
    /// Notes an event; true for the first one.
    func touch() -> Bool {
        last = .now
        defer { heard = true }
        return !heard
    }
    private var syncing = false
    func setSyncing(_ value: Bool) {
        syncing = value
        last = .now
    }
    /// How long nothing was heard; zero while a sync runs.
    func silence() -> Duration { syncing ? .zero : .now - last }
}
