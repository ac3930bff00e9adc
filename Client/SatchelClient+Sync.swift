import SatchelProtocol

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

    /// Runs a `SyncSession` with real I/O: its requests over `transport`, its steps on the store.
    func sync(_ transport: any SyncTransport, pageSize: Int, progress: @Sendable (SyncProgress) -> Void) async throws -> (SyncReport, [SpaceAccess]) {
        var session = SyncSession(configuration: .init(pageSize: pageSize, client: Self.clientName), toPush: try storage.pendingCount())
        var inFlight: (exchange: SyncSession.Exchange, answer: Task<SyncSession.Answer, any Error>)?
        defer { inFlight?.answer.cancel() }
        func show(_ session: SyncSession) {
            var p = session.progress
            if let http = transport as? HTTPTransport { (p.bytesSent, p.bytesReceived) = http.bytes }
            progress(p)
        }
        show(session)
        while true {
            switch session.next() {
            case .send(let exchange, let request):
                inFlight = (exchange, Task { try await Self.send(request, over: transport) })
            case .run(let step):
                session.ran(Result { try step.run(on: &storage, physicalMillis: now()) })
                show(session)
            case .wait:
                guard let (exchange, answer) = inFlight else { preconditionFailure("a sync session waits with nothing in flight") }
                inFlight = nil
                let outcome = await answer.result
                if case .success(.hello(let hello)) = outcome {
                    try saveSpaces(hello.spaces)
                    try saveLimits(hello.limits)
                }
                session.answered(exchange, outcome)
            case .finished(var report, let spaces):
                var p = session.progress
                if let http = transport as? HTTPTransport { (p.bytesSent, p.bytesReceived) = http.bytes }
                progress(p)
                report.bytesSent = p.bytesSent
                report.bytesReceived = p.bytesReceived
                report.openConflicts = try conflicts().count
                for i in report.arrived.indices {
                    let view = try storage.record(report.arrived[i].key)?.view
                    report.arrived[i].title = view?["title"]?.textValue
                    report.arrived[i].author = view?["author"]?.textValue
                }
                return (report, spaces)
            case .failed(let error):
                throw error
            }
        }
    }

    static func send(_ request: SyncSession.Request, over transport: any SyncTransport) async throws -> SyncSession.Answer {
        switch request {
        case .hello(let hello): .hello(try await transport.hello(hello))
        case .push(let push): .push(try await transport.push(push))
        case .pull(let pull): .pull(try await transport.pull(pull))
        }
    }

    /// Sends the outbox once under the current identity and records the answers, one batch at a
    /// time, without hello's checks: before `join(again:)` gives what is still queued a new
    /// identity, so a write the server stored (its answer lost) is acknowledged, not sent twice.
    func settleOutbox() async throws {
        let transport = try transport()
        let hello = try await transport.hello(HelloRequest(client: Self.clientName))
        var after: Int64 = 0
        while true {
            let read = SyncSession.Step.readPush(
                after: after, limit: max(1, min(hello.limits.maxMutationsPerPush, 500)), maxBytes: hello.limits.maxPushMutationBytes,
                reportAsWritten: hello.asWrittenSupported)
            guard case .pushRead(let batch?, _) = try read.run(on: &storage, physicalMillis: now()) else { return }
            let response = try await transport.push(batch.push)
            try storage.acknowledge(response.results, serverClock: response.clock, physicalMillis: now())
            after = batch.last
        }
    }

    /// Live mode until cancelled: holds the live connection, syncs once the server greets it
    /// (so a change made meanwhile is announced, not missed), then syncs whenever the server says
    /// a space advanced. The decisions (a dead link, the backoff, when to stop) are `LiveSession`'s.
    /// How often `watch` looks for local writes to send.
    static let localWritePoll: Duration = .milliseconds(250)

    /// The newest outbox entry's number (0 for none): it moves with every local write.
    func lastLocalWrite() throws -> Int64 {
        try storage.db.query("SELECT coalesce(max(seq), 0) FROM outbox") { $0.int64(at: 0) }[0]
    }

    public func watch(heartbeat: Duration = .seconds(10), onSync: @escaping @Sendable (Result<SyncReport, any Error>) -> Void) async throws {
        let live = LiveState(LiveSession(heartbeatMillis: heartbeat.milliseconds))
        var rng = SystemRandomNumberGenerator()
        /// One sync, its report handed on; the watchdog does not count its silence.
        @Sendable func syncNow() async throws {
            await live.sync(running: true)
            do {
                let report = try await self.sync(progress: { _ in })
                await live.sync(running: false)
                onSync(.success(report))
            } catch {
                await live.sync(running: false)
                throw error
            }
        }
        while !Task.isCancelled {
            do {
                let transport = try transport()
                let events = try await transport.live()
                await live.connected()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await event in events {
                            switch await live.heard(event) {
                            case .nothing: break
                            case .stop(let error): throw error
                            case .sync:
                                try await syncNow()
                            }
                        }
                    }
                    group.addTask {
                        while true {
                            try await Task.sleep(for: heartbeat)
                            if await live.isDead() { throw TransportError(.offline, "the live connection went quiet; reconnecting") }
                        }
                    }
                    group.addTask {
                        // Writes made while watching (this app, or `satchel note add` in another
                        // terminal on the same store) go out within a second: nothing on the live
                        // connection announces them, so the store's outbox is looked at.
                        var seen = try await self.lastLocalWrite()
                        while true {
                            try await Task.sleep(for: Self.localWritePoll)
                            let mark = try await self.lastLocalWrite()
                            guard mark != seen else { continue }
                            seen = mark
                            guard try await self.status().pending > 0 else { continue }
                            try await syncNow()
                        }
                    }
                    try await group.next()
                    group.cancelAll()
                }
            } catch is CancellationError {
                return
            } catch {
                onSync(.failure(error))
                switch await live.ended(error, jitter: Double.random(in: 0.5...1.5, using: &rng)) {
                case .stop: throw error
                case .reconnect(let millis): try? await Task.sleep(for: .milliseconds(millis))
                }
            }
        }
    }
}

/// The watch's `LiveSession`, shared by the task reading events and the watchdog, with the
/// monotonic clock it reads time from.
actor LiveState {
    private var session: LiveSession
    private let start = ContinuousClock.now

    init(_ session: LiveSession) { self.session = session }

    private var now: Int64 { (ContinuousClock.now - start).milliseconds }

    func connected() { session.connected(at: now) }
    func heard(_ event: LiveEvent) -> LiveSession.Reaction { session.heard(event, at: now) }
    func isDead() -> Bool { session.isDead(at: now) }
    func ended(_ error: any Error, jitter: Double) -> LiveSession.AfterConnection { session.ended(error, jitter: jitter) }

    func sync(running: Bool) { session.sync(running: running, at: now) }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
