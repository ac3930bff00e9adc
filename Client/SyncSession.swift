public import SatchelProtocol

/// One sync of a device, as a state machine with no I/O: hello, the pipelined push of the
/// outbox, each space's pulls (with resets and re-bootstraps), then a second push pass for what
/// was written meanwhile. A driver asks `next()` what to do and reports how it went:
///
///     var session = SyncSession(toPush: try storage.pendingCount())
///     loop: switch session.next() {
///     case .send(let exchange, let request): start sending it (one exchange at a time)
///     case .run(let step): session.ran(Result { try step.run(on: &storage, physicalMillis: now) })
///     case .wait: session.answered(exchange, await the answer)   // a Result
///     case .finished(let report, let spaces): done
///     case .failed(let error): give up with `error`
///     }
///
/// `SatchelClient.sync` drives it over HTTP and SQLite; the simulation drives the same session
/// over a simulated network and in-memory storage. Local steps (`Step`) are the replica
/// algorithm's calls, one transaction each, so a crash between any two leaves a store the next
/// session carries on from. At most one exchange is in flight: the next push is read and encoded
/// while the server applies the one before, and the answer is recorded while it applies the next.
public struct SyncSession: Sendable {
    public struct Configuration: Hashable, Sendable {
        /// Changes per pull (the server's `maxPageSize` caps it).
        public var pageSize = 500
        /// Mutations per push (the server's `maxMutationsPerPush` caps it).
        public var maxBatch = 500
        /// The client name sent with hello.
        public var client = "satchel-client/0.1.0"

        public init(pageSize: Int = 500, maxBatch: Int = 500, client: String = "satchel-client/0.1.0") {
            self.pageSize = pageSize
            self.maxBatch = maxBatch
            self.client = client
        }
    }

    /// A request's number within the session: its answer comes back under it.
    public typealias Exchange = Int

    public enum Request: Sendable {
        case hello(HelloRequest)
        case push(EncodedPush)
        case pull(PullRequest)
    }

    public enum Answer: Sendable {
        case hello(HelloResponse)
        case push(PushResponse)
        case pull(PullResponse)
    }

    public enum Action: Sendable {
        /// Send `request`; report its answer (or failure) with `answered` once `.wait` comes.
        case send(Exchange, Request)
        /// Run this local step now and report it with `ran` before asking `next()` again.
        case run(Step)
        /// Nothing to do until the exchange in flight is answered.
        case wait
        case finished(SyncReport, spaces: [SpaceAccess])
        case failed(any Error)
    }

    enum Phase: Sendable {
        case start
        case hello
        case recovering(HelloResponse)
        case settlingClock(HelloResponse)
        case pushing(HelloResponse, Push)
        case preparingPulls(HelloResponse)
        case pulling(HelloResponse, Pull)
        /// Asking hello again for the spaces' horizons after a compaction expired a pull.
        case rehello(Pull)
        case counting(HelloResponse)
        case over
    }

    /// The push pass under way.
    struct Push: Sendable {
        var second: Bool
        /// The batch at the server: its exchange, size and last outbox entry.
        var inFlight: (exchange: Exchange, count: Int, last: Int64)?
        /// The batch read and encoded while that one is applied (`nil` inside: nothing more).
        var prepared: (push: EncodedPush, last: Int64)??
        /// Set when the answer being recorded was the last: the pass ends with its record.
        var ending = false
    }

    /// The pulls under way: which space, how often it was reset in this sync, the page asked for.
    struct Pull: Sendable {
        var index = 0
        var resets = 0
        var request: PullRequest?
        /// The space was compacted after hello: its horizon must be asked for again.
        var stale = false
    }

    public let configuration: Configuration
    public private(set) var progress: SyncProgress
    public private(set) var report = SyncReport()
    private var phase: Phase = .start
    private var queue: [Action] = []
    private var lastExchange: Exchange = 0
    private var awaiting: Exchange?
    private var stepping = false
    /// A push the server failed or refused whole: the pulls still run (everyone else's work
    /// arrives), without leaving out own writes, and the sync then fails with it.
    private var pushFailure: (any Error)?

    public init(configuration: Configuration = Configuration(), toPush: Int) {
        self.configuration = configuration
        progress = SyncProgress(phase: .connecting, pushed: 0, toPush: toPush, pulled: 0, toPull: 0, bytesSent: 0, bytesReceived: 0)
    }

    /// What to do now.
    public mutating func next() -> Action {
        if case .start = phase {
            phase = .hello
            send(.hello(HelloRequest(client: configuration.client, features: [SatchelFeature.deviceState])))
        }
        if !queue.isEmpty {
            let action = queue.removeFirst()
            if case .run = action { stepping = true }
            return action
        }
        if awaiting != nil { return .wait }
        // Every path ends in `.finished` or `.failed`; asking again repeats nothing.
        return .failed(ClientError(code: "sync_over", "this sync has ended; start a new one"))
    }

    /// The exchange in flight was answered (or failed). Answers to anything else are ignored.
    public mutating func answered(_ exchange: Exchange, _ outcome: Result<Answer, any Error>) {
        guard exchange == awaiting else { return }
        awaiting = nil
        switch (phase, outcome) {
        case (.hello, .success(.hello(let hello))):
            phase = .recovering(hello)
            run(.recover(hello.deviceState, spaces: hello.spaces.map(\.space)))
        case (.pushing(let hello, var push), .success(.push(let response))):
            pushAnswered(hello, &push, response)
        case (.pushing(let hello, let push), .failure(let error)):
            pushFailed(hello, push, error)
        case (.pulling(_, let pull), .success(.pull(let page))):
            guard let request = pull.request else { return fail(Self.unexpected("a page without a pull")) }
            // A space pulled again from scratch brings back what the device had: not news.
            if !report.rebootstrapped.contains(request.space) {
                for change in page.changes where change.key.collection == .notes {
                    report.arrivedCount += 1
                    if report.arrived.count < ArrivedNote.listed {
                        report.arrived.append(ArrivedNote(key: change.key, isNew: request.bootstrap != nil || change.previousVersion == 0))
                    }
                }
            }
            run(.apply(page, of: request))
        case (.pulling(let hello, var pull), .failure(let error)):
            if let error = error as? TransportError, error.kind == .cursorExpired, pull.resets == 0 {
                pull.stale = true
                reset(hello, &pull)
            } else {
                fail(error)
            }
        case (.rehello(var pull), .success(.hello(let hello))):
            // Carry on with the same space under its new horizon (or the next, if it is gone).
            let space = pull.request?.space
            pull.index = hello.spaces.firstIndex { $0.space == space } ?? hello.spaces.count
            pull.stale = false
            nextPull(hello, pull)
        case (_, .failure(let error)):
            fail(error)
        default:
            fail(Self.unexpected("an answer of the wrong kind"))
        }
    }

    /// The local step handed out last ran (or threw).
    public mutating func ran(_ outcome: Result<StepResult, any Error>) {
        guard stepping else { return fail(Self.unexpected("a step result with no step running")) }
        stepping = false
        let result: StepResult
        switch outcome {
        case .success(let r): result = r
        case .failure(let gap as ReplicaGap):
            guard case .pulling(let hello, var pull) = phase, pull.resets == 0 else { return fail(gap) }
            return reset(hello, &pull)
        case .failure(let error): return fail(error)
        }
        switch (phase, result) {
        case (.recovering(let hello), .recovered(let going)):
            switch going {
            case .no: break
            case .recovered:
                // Restored from a backup: the server holds writes of this device that its store
                // does not, and its pulls left them out. Every space was reset; unsent work stays.
                report.restored = true
                report.rebootstrapped = hello.spaces.map(\.space)
            case .copied:
                return fail(ClientError.copied())
            }
            phase = .settlingClock(hello)
            run(.settleClock(serverTime: hello.serverTime, maxSkewMillis: hello.limits.maxClockSkewMillis, serverHolds: hello.deviceState))
        case (.settlingClock(let hello), .clock(let check)):
            report.clock = check
            startPush(hello, second: false)
        case (.pushing(let hello, var push), .pushRead(let batch, let setAside)):
            report.pushed.rejected += setAside
            pushRead(hello, &push, batch)
        case (.pushing(let hello, let push), .acknowledged(let summary, let sent)):
            report.pushed += summary
            progress.pushed += sent - summary.resent
            if push.ending { endPush(hello, push) }
        case (.preparingPulls(let hello), .pullsPrepared(let rebootstrapped, let toPull)):
            report.rebootstrapped += rebootstrapped
            progress.toPull += toPull
            progress.phase = .pulling
            nextPull(hello, Pull())
        case (.pulling(let hello, var pull), .pullRequest(let request)):
            pull.request = request
            send(.pull(request))
            phase = .pulling(hello, pull)
        case (.pulling(let hello, var pull), .applied(let count, let hasMore)):
            report.pulled += count
            progress.pulled += count
            progress.toPull = max(progress.toPull, progress.pulled)
            if !hasMore {
                pull.index += 1
                pull.resets = 0
            }
            nextPull(hello, pull)
        case (.pulling(let hello, let pull), .reset):
            // A bootstrap must name the horizon it starts at; after a compaction since hello,
            // hello's is old, and every page after the first would be refused again.
            if pull.stale {
                phase = .rehello(pull)
                send(.hello(HelloRequest(client: configuration.client, features: [SatchelFeature.deviceState])))
            } else {
                nextPull(hello, pull)
            }
        case (.counting(let hello), .pending(let pending)):
            // Writes made while the pull ran (or requeued with whole text) go out now; writes
            // that wait for the clock would only be refused again.
            if pending > report.pushed.waitingForClock {
                startPush(hello, second: true)
            } else {
                finish(hello)
            }
        default:
            fail(Self.unexpected("a step result of the wrong kind"))
        }
    }

    // MARK: pushing

    mutating func startPush(_ hello: HelloResponse, second: Bool) {
        progress.phase = .pushing
        phase = .pushing(hello, Push(second: second))
        run(readPush(hello, after: 0))
    }

    func readPush(_ hello: HelloResponse, after: Int64) -> Step {
        .readPush(after: after, limit: max(1, min(hello.limits.maxMutationsPerPush, configuration.maxBatch)),
                  maxBytes: hello.limits.maxPushMutationBytes, reportAsWritten: hello.asWrittenSupported)
    }

    mutating func pushRead(_ hello: HelloResponse, _ push: inout Push, _ batch: (push: EncodedPush, last: Int64)?) {
        if push.inFlight == nil {
            // The first batch of the pass (or the first after a restart).
            guard let batch else { return endPush(hello, push) }
            push.inFlight = (send(.push(batch.push)), batch.push.count, batch.last)
            push.prepared = .none
            phase = .pushing(hello, push)
            run(readPush(hello, after: batch.last))
        } else {
            push.prepared = .some(batch)
            phase = .pushing(hello, push)
        }
    }

    mutating func pushAnswered(_ hello: HelloResponse, _ push: inout Push, _ response: PushResponse) {
        guard let sent = push.inFlight else { return fail(Self.unexpected("a push answer with no push in flight")) }
        if response.results.contains(where: \.mayBeResent) {
            // A write sent again whole goes before every batch after it: record the answer
            // first, then start again from the oldest pending write.
            push.inFlight = nil
            push.prepared = .none
            phase = .pushing(hello, push)
            run(.acknowledge(response, sent: sent.count))
            run(readPush(hello, after: 0))
            return
        }
        guard case .some(let following?) = push.prepared else {
            push.inFlight = nil
            push.ending = true
            phase = .pushing(hello, push)
            return run(.acknowledge(response, sent: sent.count))
        }
        push.inFlight = (send(.push(following.push)), following.push.count, following.last)
        push.prepared = .none
        phase = .pushing(hello, push)
        run(.acknowledge(response, sent: sent.count))
        run(readPush(hello, after: following.last))
    }

    mutating func pushFailed(_ hello: HelloResponse, _ push: Push, _ error: any Error) {
        // No link at all (no server code) or a refused token would fail the pull too; so does
        // a failure of the second pass, which has pulled already.
        if let transport = error as? TransportError, (transport.kind == .offline && transport.code == nil) || transport.kind == .unauthorized {
            return fail(error)
        }
        if push.second { return fail(error) }
        pushFailure = error
        startPulls(hello)
    }

    mutating func endPush(_ hello: HelloResponse, _ push: Push) {
        if report.pushed.copied > 0 { return fail(ClientError.copied()) }
        if push.second { return finish(hello) }
        startPulls(hello)
    }

    // MARK: pulling

    mutating func startPulls(_ hello: HelloResponse) {
        progress.phase = .pulling
        phase = .preparingPulls(hello)
        run(.preparePulls(hello.spaces))
    }

    mutating func nextPull(_ hello: HelloResponse, _ pull: Pull) {
        guard pull.index < hello.spaces.count else {
            if let pushFailure { return fail(pushFailure) }
            phase = .counting(hello)
            return run(.pendingCount)
        }
        let space = hello.spaces[pull.index]
        phase = .pulling(hello, pull)
        // One sync at a time: no push of this device is in flight now. After a failed push the
        // server may hold writes whose answer never came: pull them back rather than leave them out.
        run(.pullRequest(space.space, horizon: space.horizon, limit: min(configuration.pageSize, hello.limits.maxPageSize),
                         omitOwnAsWritten: hello.asWrittenSupported && pushFailure == nil))
    }

    /// Pulls the current space again from scratch: once per space and sync (a cursor older than
    /// the server's history, or a gap); a second time fails the sync.
    mutating func reset(_ hello: HelloResponse, _ pull: inout Pull) {
        pull.resets += 1
        let space = hello.spaces[pull.index].space
        report.rebootstrapped.append(space)
        phase = .pulling(hello, pull)
        run(.reset(space))
    }

    // MARK: ending

    mutating func finish(_ hello: HelloResponse) {
        progress.phase = .done
        phase = .over
        queue.append(.finished(report, spaces: hello.spaces))
    }

    mutating func fail(_ error: any Error) {
        phase = .over
        queue = [.failed(error)]
        awaiting = nil
    }

    @discardableResult
    mutating func send(_ request: Request) -> Exchange {
        lastExchange += 1
        awaiting = lastExchange
        queue.append(.send(lastExchange, request))
        return lastExchange
    }

    mutating func run(_ step: Step) { queue.append(.run(step)) }

    static func unexpected(_ what: String) -> ClientError {
        ClientError(code: "sync_state", "the sync got \(what); this is a bug in Satchel, please report it")
    }
}
