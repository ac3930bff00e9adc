import SatchelClient
import SatchelProtocol
import SatchelServerCore
import SatchelTesting

/// Devices running `SyncSession`, the client's shipped sync: the simulation is only its driver,
/// as `SatchelClient.sync` is over HTTP and SQLite. Its requests become envelopes on the
/// simulated network, its steps run on the device's in-memory store, and the answers are read
/// by `HTTPTransport.reply`, the real transport's reading of the HTTP routes' answers.
extension Simulation {
    /// Starts a sync on device `d` unless one runs already. Page and batch sizes are drawn per
    /// sync, small, so paging and pipelining happen in workloads of a few dozen writes.
    mutating func startSync(_ d: Int) async {
        guard devices[d].isIdle else { return }
        report.syncs += 1
        let configuration = SyncSession.Configuration(pageSize: rng.int(1...8), maxBatch: rng.int(1...6))
        devices[d].session = SyncSession(configuration: configuration, toPush: devices[d].replica.pendingCount())
        devices[d].sessionNumber += 1
        devices[d].sessionStarted = now
        devices[d].waiting = nil
        await step(d)
    }

    /// Runs device `d`'s session until it waits for an answer or ends.
    mutating func step(_ d: Int) async {
        while var session = devices[d].session {
            let action = session.next()
            devices[d].session = session
            switch action {
            case .send(let exchange, let request):
                send(request, device: d, exchange: exchange)
            case .run(let step):
                // A crash before a step: its transaction never commits. The store keeps every
                // step before it; the next sync starts from there.
                if faultsActive && rng.chance(profile.deviceCrash) { return crash(d, before: step) }
                let outcome = run(step, device: d)
                devices[d].session?.ran(outcome)
            case .wait:
                return
            case .finished(let result, _):
                devices[d].session = nil
                report.finishedSyncs += 1
                if case .ahead = result.clock { report.clockWaits += 1 }
                if result.restored { report.restoreRecoveries += 1 }
                trace("dev-\(d) finished a sync: pushed \(result.pushed.applied + result.pushed.merged + result.pushed.conflicts), pulled \(result.pulled)\(result.rebootstrapped.isEmpty ? "" : ", rebootstrapped \(result.rebootstrapped.map(\.rawValue))")")
            case .failed(let error):
                devices[d].session = nil
                failed(d, error)
            }
        }
    }

    /// A sync that failed: expected on a bad network (no answer, a server restarting, a cursor
    /// compacted twice in one sync); anything else is a problem.
    mutating func failed(_ d: Int, _ error: any Error) {
        devices[d].failedSinceReset += 1
        report.failedSyncs += 1
        trace("dev-\(d)'s sync failed: \(error)")
        switch error {
        case let transport as TransportError where transport.kind == .offline: break
        // The session's horizons come from its hello: a compaction after it expires a bootstrap
        // under way, and the next sync's hello brings the new horizon.
        case let transport as TransportError where transport.kind == .cursorExpired && lastCompaction >= devices[d].sessionStarted: break
        case let gap as ReplicaGap:
            problem("gap", "dev-\(d) could not apply a change of \(gap.key) even after pulling the space again: its copy is at version \(gap.local), the change follows \(gap.expected)")
        case let client as ClientError where client.code == "device_copied":
            problem("client", "dev-\(d), restored once, was taken for a copied device")
        default:
            problem("sync", "dev-\(d)'s sync failed: \(error)")
        }
    }

    /// Device `d` crashes before `step`: the session and everything it held in memory are gone.
    mutating func crash(_ d: Int, before step: SyncSession.Step) {
        report.deviceCrashes += 1
        trace("dev-\(d) crashes before its step \(Self.name(step))")
        devices[d].session = nil
        devices[d].waiting = nil
        devices[d].failedSinceReset += 1
    }

    /// Runs a session's step on the device's store, watching what the checks need.
    mutating func run(_ step: SyncSession.Step, device d: Int) -> Result<SyncSession.StepResult, any Error> {
        let before: [OutboxEntry]
        if case .acknowledge(let response, _) = step, response.results.contains(where: \.mayBeResent) {
            before = devices[d].replica.pendingEntries(limit: .max)
        } else {
            before = []
        }
        let outcome = Result { try step.run(on: &devices[d].replica, physicalMillis: deviceTime(d)) }
        switch (step, outcome) {
        case (.acknowledge(let response, _), .success(.acknowledged(let summary, _))):
            report.resends += summary.resent
            devices[d].latestClock = max(devices[d].latestClock, response.clock)
            var now: [Int64: MutationID] = [:]
            for entry in devices[d].replica.pendingEntries(limit: .max) { now[entry.seq] = entry.mutation.id }
            for entry in before {
                if let id = now[entry.seq], id != entry.mutation.id {
                    devices[d].resentAs[entry.mutation.id] = id
                    trace("dev-\(d) resends \(entry.mutation.id) whole as \(id)")
                }
            }
        case (.apply(let page, _), .success):
            devices[d].pulledSinceReset += page.changes.count
            for change in page.changes { devices[d].latestClock = max(devices[d].latestClock, change.clock) }
        case (.apply, .failure(let gap as ReplicaGap)):
            // No change is ever missed, so a gap means the device's copy of a record is not what
            // the server says it was: a real inconsistency (the session pulls the space again).
            report.gaps += 1
            problem("gap", "dev-\(d) could not apply a change of \(gap.key): its copy is at version \(gap.local), the change follows \(gap.expected)")
        case (.recover, .success(.recovered(.recovered))):
            report.resets += 1
            trace("dev-\(d) learns at hello that its store went back; every space is pulled again")
        case (.settleClock, .success(.clock(.restamped(let n)))):
            report.restamped += n
            devices[d].latestClock = devices[d].replica.deviceState().clock
            trace("dev-\(d)'s clock is set back; \(n) queued writes stamped again")
        case (.reset, .success):
            report.resets += 1
        case (.preparePulls, .success(.pullsPrepared(let rebootstrapped, _))):
            report.resets += rebootstrapped.count
        case (_, .failure(let error)) where !(error is ReplicaGap):
            problem("client", "dev-\(d)'s step \(Self.name(step)) threw \(error)")
        default:
            break
        }
        return outcome
    }

    static func name(_ step: SyncSession.Step) -> String {
        switch step {
        case .recover: "recover"
        case .settleClock: "settle clock"
        case .readPush(let after, _, _, _): "read push after \(after)"
        case .acknowledge(let r, _): "acknowledge \(r.results.count)"
        case .preparePulls: "prepare pulls"
        case .pullRequest(let space, _, _, _): "pull request \(space)"
        case .apply(let page, _): "apply \(page.changes.count) of \(page.space)"
        case .reset(let space): "reset \(space)"
        case .pendingCount: "count pending"
        }
    }

    /// A session's request, framed as `HTTPTransport` frames it, on its way to the server.
    mutating func send(_ request: SyncSession.Request, device d: Int, exchange: Int) {
        let route: SyncEndpoints.Route, bytes: [UInt8]
        var features: [String] = []
        switch request {
        case .hello(let hello):
            route = .hello
            bytes = Frame.encode(.helloRequest(hello))
            features = hello.features.sorted()
            trace("dev-\(d) hello #\(exchange)")
        case .push(let push):
            route = .push
            bytes = push.frame
            recordSent(push, device: d, exchange: exchange)
        case .pull(let pull):
            route = .pull
            bytes = Frame.encode(.pullRequest(pull))
            report.pulls += 1
            if pull.omitOwnAsWritten { report.pullsOmittingOwn += 1 }
            trace("dev-\(d) pulls #\(exchange) \(pull.space) after \(pull.after) limit \(pull.limit)\(pull.bootstrap.map { " bootstrap at horizon \($0)" } ?? "")\(pull.omitOwnAsWritten ? " leaving out own" : "")")
        }
        devices[d].waiting = exchange
        let session = devices[d].sessionNumber
        queue.schedule(.timeout(device: d, session: session, exchange: exchange), at: now + configuration.timeoutMillis)
        transmit(Envelope(device: d, session: session, exchange: exchange, toServer: true, route: route, bytes: bytes, features: features))
    }

    /// Notes the mutations a push carries, checking a write sent again kept its contents.
    mutating func recordSent(_ push: EncodedPush, device d: Int, exchange: Int) {
        guard let request = try? push.request() else { return problem("codec", "dev-\(d)'s push #\(exchange) does not decode") }
        report.pushes += 1
        devices[d].pushedSinceReset += request.mutations.count
        for m in request.mutations {
            if let earlier = devices[d].sent.updateValue(m, forKey: m.id) {
                report.repushedMutations += 1
                // A write stamped again after a wrong date, or given a new counter after a restore,
                // keeps its id and contents.
                var same = earlier
                (same.clock, same.counter) = (m.clock, m.counter)
                if same != m { problem("client", "dev-\(d) pushed mutation \(m.id) twice with different contents") }
            }
        }
        trace("dev-\(d) pushes #\(exchange): \(request.mutations.map { "\($0.id) \($0.operation.rawValue) \($0.key.collection)/\($0.key.record) base \($0.baseVersion)" }.joined(separator: ", "))")
    }

    /// An answer reached device `d`: read as the HTTP transport reads it and given to the session
    /// if it still waits for it (a closed connection's answer is never read).
    mutating func receive(_ envelope: Envelope) async {
        let d = envelope.device
        guard devices[d].sessionNumber == envelope.session, devices[d].waiting == envelope.exchange else {
            report.staleAnswers += 1
            return
        }
        let outcome: Result<SyncSession.Answer, any Error>
        do {
            switch try HTTPTransport.reply(status: envelope.status, body: envelope.bytes, features: Set(envelope.features), server: "sim") {
            case .helloResponse(let hello):
                outcome = .success(.hello(hello))
            case .pushResponse(let push):
                noteAnswers(push, device: d)
                outcome = .success(.push(push))
            case .pullResponse(let page):
                outcome = .success(.pull(page))
            default:
                outcome = .failure(TransportError(.badResponse, "the wrong kind of message"))
                problem("server", "dev-\(d) got the wrong kind of answer on \(envelope.route.rawValue)")
            }
        } catch {
            if let transport = error as? TransportError, transport.kind != .offline, transport.kind != .cursorExpired {
                problem("server", "dev-\(d)'s \(envelope.route.rawValue) was refused: \(transport.code ?? "-") \(transport.message)")
            }
            if let transport = error as? TransportError, transport.kind == .cursorExpired { report.cursorExpired += 1 }
            outcome = .failure(error)
        }
        await answered(d, envelope.exchange, outcome)
    }

    /// Gives the session its answer, and runs it on.
    mutating func answered(_ d: Int, _ exchange: Int, _ outcome: Result<SyncSession.Answer, any Error>) async {
        devices[d].waiting = nil
        devices[d].session?.answered(exchange, outcome)
        await step(d)
    }

    /// Remembers what the device was told about each write; the first answer must never change.
    mutating func noteAnswers(_ response: PushResponse, device d: Int) {
        for result in response.results {
            guard let m = devices[d].sent[result.mutation] else {
                problem("server", "dev-\(d) got an answer for \(result.mutation), which it never pushed")
                continue
            }
            // Refused for the clock, as a copy or for another device's id: nothing was stored,
            // and the write stays queued (or goes again under a new id).
            if let code = result.rejection?.code, code == .clockTooFarAhead || code == .deviceCopied || code == .mutationIDTaken { continue }
            if let first = devices[d].answers[result.mutation] {
                if first != result {
                    problem("server", "dev-\(d) got two different answers for \(result.mutation): \(first.status.rawValue) v\(first.version), then \(result.status.rawValue) v\(result.version)")
                }
                continue
            }
            devices[d].answers[result.mutation] = result
            if result.status != .rejected {
                acknowledged[result.mutation] = Acknowledged(device: d, key: m.key, result: result)
                devices[d].acknowledgedSinceBackup = true
            }
            switch result.status {
            case .merged: report.merged += 1
            case .conflict: report.conflictResults += 1
            default: break
            }
        }
    }
}
