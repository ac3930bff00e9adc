@testable import SatchelClient
import SatchelProtocol
import Testing

/// `SyncSession` with no network and no store: answers and step results are fed by hand and the
/// actions it asks for are compared, one line each (as AsyncHTTPClient tests its connection
/// pool's state machine).
@Suite struct SyncSessionTests {
    static let mission = SpaceAccess(space: "mission", role: .writer, head: 10, horizon: 0)
    static let briefing = SpaceAccess(space: "briefing", role: .reader, head: 4, horizon: 0)

    static func hello(spaces: [SpaceAccess] = [mission, briefing], maxPush: Int = 1000) -> HelloResponse {
        var h = HelloResponse(
            server: "test", device: "dev-1", user: "ana", limits: Limits(maxMutationsPerPush: maxPush), serverTime: 1_000, spaces: spaces)
        h.asWrittenSupported = true
        return h
    }

    /// A batch of `count` placeholder encodings ending at outbox entry `last` (the session never
    /// decodes them).
    static func batch(_ count: Int, last: Int64) -> SyncSession.StepResult {
        .pushRead((EncodedPush(encodedMutations: Array(repeating: [0], count: count), reportAsWritten: true), last), setAside: 0)
    }

    static func answer(_ results: [MutationResult]) -> Result<SyncSession.Answer, any Error> {
        .success(.push(PushResponse(results: results, clock: HLC(millis: 1_000, counter: 0), reportsAsWritten: true)))
    }

    static func applied(_ ids: String...) -> [MutationResult] {
        ids.map { MutationResult(mutation: MutationID(unchecked: $0), status: .applied, version: 5) }
    }

    static func summary(applied: Int, resent: Int = 0) -> AcknowledgeSummary {
        var s = AcknowledgeSummary()
        (s.applied, s.resent) = (applied, resent)
        return s
    }

    static func page(_ space: SpaceID, hasMore: Bool) -> Result<SyncSession.Answer, any Error> {
        .success(.pull(PullResponse(space: space, changes: [], cursor: 10, hasMore: hasMore, head: 10)))
    }

    /// The session's actions up to the next `wait` (or its end), one line each.
    static func drain(_ session: inout SyncSession) -> [String] {
        var lines: [String] = []
        while true {
            let action = session.next()
            lines.append(describe(action))
            switch action {
            case .run, .wait, .finished, .failed: return lines
            case .send: continue
            }
        }
    }

    static func describe(_ action: SyncSession.Action) -> String {
        switch action {
        case .send(let n, .hello(let h)): "send \(n) hello \(h.features.sorted())"
        case .send(let n, .push(let p)): "send \(n) push \(p.count)"
        case .send(let n, .pull(let p)): "send \(n) pull \(p.space) after \(p.after)\(p.omitOwnAsWritten ? " omitting own" : "")"
        case .run(let step): "run \(describe(step))"
        case .wait: "wait"
        case .finished(let report, let spaces): "finished pulled \(report.pulled) spaces \(spaces.map(\.space.rawValue))"
        case .failed(let error): "failed \((error as? TransportError)?.code ?? (error as? ClientError)?.code ?? "\(type(of: error))")"
        }
    }

    static func describe(_ step: SyncSession.Step) -> String {
        switch step {
        case .recover: "recover"
        case .settleClock: "settle clock"
        case .readPush(let after, let limit, _, _): "read push after \(after) limit \(limit)"
        case .acknowledge(let r, _): "acknowledge \(r.results.count)"
        case .preparePulls(let spaces): "prepare pulls \(spaces.map(\.space.rawValue))"
        case .pullRequest(let space, _, let limit, let omit): "pull request \(space) limit \(limit)\(omit ? " omitting own" : "")"
        case .apply(let page, _): "apply \(page.space)"
        case .reset(let space): "reset \(space)"
        case .pendingCount: "count pending"
        }
    }

    /// Hello, recovery and the clock, up to the first push read.
    static func begin(_ session: inout SyncSession, hello: HelloResponse = hello()) {
        #expect(drain(&session) == ["send 1 hello [\"device-state\"]", "wait"])
        session.answered(1, .success(.hello(hello)))
        #expect(drain(&session) == ["run recover"])
        session.ran(.success(.recovered(.no)))
        #expect(drain(&session) == ["run settle clock"])
        session.ran(.success(.clock(.fine)))
    }

    /// Up to the pulls of the mission space, with nothing to push.
    /// With `after`, the first pull is also asked for (from that cursor) and sent as exchange 2.
    static func beginPulls(_ session: inout SyncSession, after: Version? = nil) {
        begin(&session, hello: hello(spaces: [mission]))
        _ = drain(&session)
        session.ran(.success(.pushRead(nil, setAside: 0)))
        _ = drain(&session)
        session.ran(.success(.pullsPrepared(rebootstrapped: [], toPull: 10)))
        guard let after else { return }
        _ = drain(&session)
        session.ran(.success(.pullRequest(PullRequest(space: "mission", after: after, limit: 50))))
        _ = drain(&session)
    }

    /// Pull requests for `spaces`, each answered with one last page.
    static func pullAll(_ session: inout SyncSession, from exchange: Int, omitting: Bool, _ spaces: [SpaceID]) {
        var n = exchange
        for space in spaces {
            #expect(drain(&session) == ["run pull request \(space) limit 50\(omitting ? " omitting own" : "")"])
            session.ran(.success(.pullRequest(PullRequest(space: space, after: 0, limit: 50, omitOwnAsWritten: omitting))))
            #expect(drain(&session) == ["send \(n) pull \(space) after 0\(omitting ? " omitting own" : "")", "wait"])
            session.answered(n, page(space, hasMore: false))
            #expect(drain(&session) == ["run apply \(space)"])
            session.ran(.success(.applied(count: 3, hasMore: false)))
            n += 1
        }
    }

    @Test func theNextPushGoesOutBeforeTheAnswerToTheLastIsRecorded() {
        var session = SyncSession(configuration: .init(pageSize: 50, maxBatch: 2), toPush: 3)
        Self.begin(&session)
        #expect(Self.drain(&session) == ["run read push after 0 limit 2"])
        session.ran(.success(Self.batch(2, last: 2)))
        // The first batch goes out; the next is read while the server applies it.
        #expect(Self.drain(&session) == ["send 2 push 2", "run read push after 2 limit 2"])
        session.ran(.success(Self.batch(1, last: 3)))
        #expect(Self.drain(&session) == ["wait"])
        session.answered(2, Self.answer(Self.applied("a", "b")))
        // Pipelined: batch 2 is sent, then batch 1's answer recorded, then the next read.
        #expect(Self.drain(&session) == ["send 3 push 1", "run acknowledge 2"])
        session.ran(.success(.acknowledged(Self.summary(applied: 2), sent: 2)))
        #expect(Self.drain(&session) == ["run read push after 3 limit 2"])
        session.ran(.success(.pushRead(nil, setAside: 0)))
        #expect(Self.drain(&session) == ["wait"])
        session.answered(3, Self.answer(Self.applied("c")))
        #expect(Self.drain(&session) == ["run acknowledge 1"])
        session.ran(.success(.acknowledged(Self.summary(applied: 1), sent: 1)))
        #expect(Self.drain(&session) == ["run prepare pulls [\"mission\", \"briefing\"]"])
        #expect(session.progress.pushed == 3)
        session.ran(.success(.pullsPrepared(rebootstrapped: [], toPull: 14)))
        Self.pullAll(&session, from: 4, omitting: true, ["mission", "briefing"])
        #expect(Self.drain(&session) == ["run count pending"])
        session.ran(.success(.pending(0)))
        #expect(Self.drain(&session) == ["finished pulled 6 spaces [\"mission\", \"briefing\"]"])
        #expect(session.report.pushed.applied == 3 && session.progress.phase == .done)
    }

    @Test func aWriteToResendWholeRestartsFromTheOldestPendingWrite() {
        var session = SyncSession(configuration: .init(pageSize: 50, maxBatch: 2), toPush: 4)
        Self.begin(&session)
        _ = Self.drain(&session)
        session.ran(.success(Self.batch(2, last: 2)))
        _ = Self.drain(&session)
        session.ran(.success(Self.batch(2, last: 4)))
        _ = Self.drain(&session)
        let expired = MutationResult(mutation: "b", status: .rejected, version: 0, rejection: Rejection(.baseExpired, "the base is gone"))
        session.answered(2, Self.answer(Self.applied("a") + [expired]))
        // The batch read ahead is dropped: the resent write goes before it.
        #expect(Self.drain(&session) == ["run acknowledge 2"])
        session.ran(.success(.acknowledged(Self.summary(applied: 1, resent: 1), sent: 2)))
        #expect(Self.drain(&session) == ["run read push after 0 limit 2"])
        session.ran(.success(Self.batch(2, last: 5)))
        #expect(Self.drain(&session) == ["send 3 push 2", "run read push after 5 limit 2"])
        #expect(session.progress.pushed == 1)
    }

    @Test func aPushTheServerFailsStillPullsWithoutLeavingOutOwnWritesThenFails() {
        var session = SyncSession(configuration: .init(pageSize: 50), toPush: 1)
        Self.begin(&session)
        _ = Self.drain(&session)
        session.ran(.success(Self.batch(1, last: 1)))
        _ = Self.drain(&session)
        session.ran(.success(.pushRead(nil, setAside: 0)))
        session.answered(2, .failure(TransportError(.offline, code: "insufficient_storage", "the server's disk is full")))
        #expect(Self.drain(&session) == ["run prepare pulls [\"mission\", \"briefing\"]"])
        session.ran(.success(.pullsPrepared(rebootstrapped: [], toPull: 14)))
        Self.pullAll(&session, from: 3, omitting: false, ["mission", "briefing"])
        #expect(Self.drain(&session) == ["failed insufficient_storage"])
    }

    @Test func noLinkOrARefusedTokenEndsTheSyncAtOnce() {
        for error in [TransportError(.offline, "no route"), TransportError(.unauthorized, code: "token_revoked", "revoked")] {
            var session = SyncSession(toPush: 1)
            Self.begin(&session)
            _ = Self.drain(&session)
            session.ran(.success(Self.batch(1, last: 1)))
            _ = Self.drain(&session)
            session.ran(.success(.pushRead(nil, setAside: 0)))
            session.answered(2, .failure(error))
            #expect(Self.drain(&session) == ["failed \(error.code ?? "TransportError")"])
        }
        var session = SyncSession(toPush: 0)
        _ = Self.drain(&session)
        session.answered(1, .failure(TransportError(.offline, "no route")))
        #expect(Self.drain(&session) == ["failed TransportError"])
    }

    @Test func anExpiredCursorOrAGapResetsTheSpaceOnceThenFails() {
        var session = SyncSession(configuration: .init(pageSize: 50), toPush: 0)
        Self.beginPulls(&session, after: 7)
        session.answered(2, .failure(TransportError(.cursorExpired, code: "cursor_expired", "compacted")))
        #expect(Self.drain(&session) == ["run reset mission"])
        session.ran(.success(.reset))
        // Compacted since hello: hello again for the new horizon, then bootstrap under it.
        #expect(Self.drain(&session) == ["send 3 hello [\"device-state\"]", "wait"])
        let compacted = SpaceAccess(space: "mission", role: .writer, head: 12, horizon: 9)
        session.answered(3, .success(.hello(Self.hello(spaces: [Self.briefing, compacted]))))
        #expect(Self.drain(&session) == ["run pull request mission limit 50 omitting own"])
        session.ran(.success(.pullRequest(PullRequest(space: "mission", after: 0, limit: 50, bootstrap: 9))))
        _ = Self.drain(&session)
        session.answered(4, Self.page("mission", hasMore: false))
        #expect(Self.drain(&session) == ["run apply mission"])
        // A gap after the reset: the device cannot apply the space even from scratch.
        session.ran(.failure(ReplicaGap(key: RecordKey(space: "mission", collection: .notes, record: "n"), local: 3, expected: 4)))
        #expect(Self.drain(&session) == ["failed ReplicaGap"])
        #expect(session.report.rebootstrapped == ["mission"])
    }

    @Test func aGapResetsTheSpaceWithoutAskingHelloAgain() {
        var session = SyncSession(configuration: .init(pageSize: 50), toPush: 0)
        Self.beginPulls(&session, after: 7)
        session.answered(2, Self.page("mission", hasMore: false))
        _ = Self.drain(&session)
        session.ran(.failure(ReplicaGap(key: RecordKey(space: "mission", collection: .notes, record: "n"), local: 3, expected: 4)))
        #expect(Self.drain(&session) == ["run reset mission"])
        session.ran(.success(.reset))
        #expect(Self.drain(&session) == ["run pull request mission limit 50 omitting own"])
    }

    @Test func aCopiedStoreEndsTheSyncBeforeAnythingIsPushed() {
        var session = SyncSession(toPush: 2)
        _ = Self.drain(&session)
        session.answered(1, .success(.hello(Self.hello())))
        _ = Self.drain(&session)
        session.ran(.success(.recovered(.copied)))
        #expect(Self.drain(&session) == ["failed device_copied"])
    }

    @Test func writesMadeDuringThePullGoOutInASecondPass() {
        var session = SyncSession(configuration: .init(pageSize: 50), toPush: 0)
        Self.beginPulls(&session)
        Self.pullAll(&session, from: 2, omitting: true, ["mission"])
        _ = Self.drain(&session)
        session.ran(.success(.pending(1)))
        #expect(Self.drain(&session) == ["run read push after 0 limit 500"])
        session.ran(.success(Self.batch(1, last: 9)))
        #expect(Self.drain(&session) == ["send 3 push 1", "run read push after 9 limit 500"])
        session.ran(.success(.pushRead(nil, setAside: 0)))
        session.answered(3, Self.answer(Self.applied("late")))
        #expect(Self.drain(&session) == ["run acknowledge 1"])
        session.ran(.success(.acknowledged(Self.summary(applied: 1), sent: 1)))
        #expect(Self.drain(&session) == ["finished pulled 3 spaces [\"mission\"]"])
    }

    @Test func answersToAnotherExchangeAreIgnored() {
        var session = SyncSession(toPush: 0)
        _ = Self.drain(&session)
        // A late answer to an exchange the session no longer waits for changes nothing.
        session.answered(7, .success(.hello(Self.hello())))
        #expect(Self.drain(&session) == ["wait"])
        session.answered(1, .success(.hello(Self.hello())))
        #expect(Self.drain(&session) == ["run recover"])
    }

    @Test func theServersLimitsCapTheBatchAndThePage() {
        var session = SyncSession(configuration: .init(pageSize: 800, maxBatch: 900), toPush: 5)
        Self.begin(&session, hello: Self.hello(maxPush: 100))
        #expect(Self.drain(&session) == ["run read push after 0 limit 100"])
    }
}
