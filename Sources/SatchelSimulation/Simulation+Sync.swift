import SatchelClient
import SatchelProtocol

/// The devices' sync state machine: push the outbox in batches, then pull pages until the server
/// says there are no more; a failed exchange (lost request or answer) ends the sync, and the next
/// one pushes the same pending mutations again.
extension Simulation {
    /// More than any correct sync of these workloads needs (a few dozen pushes and small pages).
    static let maxExchangesPerSync = 500

    /// Starts a sync on device `d` unless it is already syncing.
    mutating func startSync(_ d: Int) {
        guard devices[d].isIdle else { return }
        report.syncs += 1
        devices[d].gapResetsInSync = 0
        devices[d].exchangesInSync = 0
        devices[d].expiredResetsInSync = 0
        devices[d].clockRefusedInSync = false
        hello(d)
        pushOrPull(d)
    }

    /// What a sync's hello does with the answer, with the server's state read directly: the
    /// device recovers if its store went back (a restore), and settles a clock that ran ahead.
    mutating func hello(_ d: Int) {
        let holds = server.log.writeState(of: devices[d].id)
        do {
            switch try devices[d].replica.recoverIfWentBack(holds, physicalMillis: deviceTime(d)) {
            case .no: break
            case .recovered:
                report.restoreRecoveries += 1
                trace("dev-\(d) learns at hello that its store went back: the server holds counter \(holds?.counter ?? 0)")
                reset(d)
            case .copied:
                problem("client", "dev-\(d), restored once, was taken for a copied device")
            }
            let check = try devices[d].replica.settleClock(
                serverTime: now, maxSkewMillis: server.limits.maxClockSkewMillis, physicalMillis: deviceTime(d), serverHolds: holds)
            if case .restamped(let n) = check {
                report.restamped += n
                devices[d].latestClock = devices[d].replica.deviceState().clock
                trace("dev-\(d)'s clock is set back; \(n) queued writes stamped again")
            }
        } catch {
            problem("client", "dev-\(d) hello threw \(error)")
        }
    }

    /// Starts a new exchange: its number, and the timeout after which the device gives up on it.
    /// Nil when the sync has gone on for so long that it would never end: then it is given up.
    mutating func beginExchange(_ d: Int) -> Int? {
        devices[d].exchangesInSync += 1
        guard devices[d].exchangesInSync <= Self.maxExchangesPerSync else {
            devices[d].phase = .idle
            devices[d].stuck = true
            devices[d].failedSinceReset += 1
            problem("stuck", "dev-\(d) gave up a sync that went on for \(Self.maxExchangesPerSync) exchanges")
            return nil
        }
        devices[d].exchange += 1
        let exchange = devices[d].exchange
        queue.schedule(.timeout(device: d, exchange: exchange), at: now + configuration.timeoutMillis)
        return exchange
    }

    /// Pushes the next batch the outbox hands out, or pulls when nothing is pending.
    mutating func pushOrPull(_ d: Int) {
        let batch: [Mutation]
        do {
            batch = try devices[d].replica.nextBatch(limit: rng.int(1...6))
        } catch {
            devices[d].phase = .idle
            return problem("client", "dev-\(d) nextBatch threw \(error)")
        }
        guard !batch.isEmpty, !devices[d].clockRefusedInSync else { return pull(d) }
        for m in batch {
            if let earlier = devices[d].sent.updateValue(m, forKey: m.id) {
                report.repushedMutations += 1
                // A write stamped again after a wrong date, or given a new counter after a restore,
                // keeps its id and contents.
                var same = earlier
                (same.clock, same.counter) = (m.clock, m.counter)
                if same != m { problem("client", "dev-\(d) pushed mutation \(m.id) twice with different contents") }
            }
        }
        guard let exchange = beginExchange(d) else { return }
        report.pushes += 1
        devices[d].pushedSinceReset += batch.count
        devices[d].phase = .pushing(exchange: exchange)
        trace("dev-\(d) pushes #\(exchange): \(batch.map { "\($0.id) \($0.operation.rawValue) \($0.key.collection)/\($0.key.record) base \($0.baseVersion)" }.joined(separator: ", "))")
        send(.pushRequest(PushRequest(mutations: batch, reportAsWritten: true)), device: d, exchange: exchange, toServer: true)
    }

    /// Pulls the next page after the device's cursor.
    mutating func pull(_ d: Int) {
        guard let exchange = beginExchange(d) else { return }
        report.pulls += 1
        devices[d].phase = .pulling(exchange: exchange)
        let request: PullRequest
        do {
            // The horizon as the device's last hello would have told it.
            // Own writes may be left out only while no push of this device can still be answered.
            let pushInFlight = queue.contains { event in
                guard case .deliver(let e) = event, e.device == d else { return false }
                if case .pushRequest = e.original { return true }
                if case .pushResponse = e.original { return true }
                return false
            }
            request = try devices[d].replica.pullRequest(Self.space, horizon: server.log.horizon, limit: rng.int(1...8), omitOwnAsWritten: !pushInFlight)
        } catch {
            devices[d].phase = .idle
            return problem("client", "dev-\(d) pullRequest threw \(error)")
        }
        devices[d].pullRequest = request
        if request.omitOwnAsWritten { report.pullsOmittingOwn += 1 }
        trace("dev-\(d) pulls #\(exchange) after \(request.after) limit \(request.limit)\(request.bootstrap.map { " bootstrap at horizon \($0)" } ?? "")")
        send(.pullRequest(request), device: d, exchange: exchange, toServer: true)
    }

    /// Device `d` forgets what the server confirmed and pulls the space from 0 — unless that
    /// keeps failing within one sync (3 gaps, which are problems already, or 20 `cursor_expired`,
    /// which compaction alone cannot cause): then it gives up the sync instead of looping.
    mutating func resetAndPull(_ d: Int, gap: Bool, because reason: String) {
        if gap { devices[d].gapResetsInSync += 1 } else { devices[d].expiredResetsInSync += 1 }
        guard devices[d].gapResetsInSync <= 3 && devices[d].expiredResetsInSync <= 20 else {
            devices[d].phase = .idle
            devices[d].stuck = true
            devices[d].failedSinceReset += 1
            let times = gap ? devices[d].gapResetsInSync : devices[d].expiredResetsInSync
            return problem("stuck", "dev-\(d) re-bootstrapped the space \(times - 1) times in one sync and still gets \(reason); it gives up")
        }
        reset(d)
        pull(d)
    }

    /// Device `d` forgets what the server confirmed.
    mutating func reset(_ d: Int) {
        report.resets += 1
        trace("dev-\(d) resets the space")
        do {
            try devices[d].replica.resetSpace(Self.space)
        } catch {
            problem("client", "dev-\(d) resetSpace threw \(error)")
        }
    }

    /// An answer reached device `d`. Push answers are always acknowledged (the algorithm must
    /// accept late and repeated ones); pull answers only for the exchange the device waits on.
    mutating func receive(_ message: Message, device d: Int, exchange: Int) {
        let phase = devices[d].phase
        switch message {
        case .pushResponse(let response):
            acknowledge(response, device: d)
            if phase == .pushing(exchange: exchange) {
                pushOrPull(d)
            } else {
                report.latePushResponses += 1
                trace("dev-\(d) acknowledged a late or repeated push answer #\(exchange)")
            }

        case .pullResponse(let page):
            guard phase == .pulling(exchange: exchange) else {
                report.stalePullResponses += 1
                return
            }
            do {
                try devices[d].replica.applyPage(page, of: devices[d].pullRequest!, physicalMillis: deviceTime(d))
                devices[d].pulledSinceReset += page.changes.count
                for change in page.changes { devices[d].latestClock = max(devices[d].latestClock, change.clock) }
                if page.hasMore {
                    pull(d)
                } else {
                    devices[d].phase = .idle
                    trace("dev-\(d) is up to date at \(page.cursor)")
                }
            } catch let gap as ReplicaGap {
                // No change is ever missed in this simulation, so a gap means the device's copy
                // of a record is not what the server says it was: a real inconsistency.
                report.gaps += 1
                problem("gap", "dev-\(d) could not apply a change of \(gap.key): its copy is at version \(gap.local), the change follows \(gap.expected)")
                resetAndPull(d, gap: true, because: "a gap at \(gap.key)")
            } catch {
                devices[d].phase = .idle
                problem("client", "dev-\(d) applyPage threw \(error)")
            }

        case .error(let error):
            guard phase == .pushing(exchange: exchange) || phase == .pulling(exchange: exchange) else { return }
            if error.code == "cursor_expired", phase == .pulling(exchange: exchange) {
                report.cursorExpired += 1
                resetAndPull(d, gap: false, because: "cursor_expired")
            } else {
                devices[d].phase = .idle
                problem("server", "dev-\(d) got error \(error.code): \(error.message)")
            }

        default:
            problem("server", "dev-\(d) got a message of type \(message.type) instead of an answer")
        }
    }

    /// Feeds a push answer to the algorithm, and remembers what the device was told.
    mutating func acknowledge(_ response: PushResponse, device d: Int) {
        let resending = response.results.contains(where: \.mayBeResent)
        let before = resending ? (devices[d].replica.pendingEntries(limit: .max)) : []
        do {
            let summary = try devices[d].replica.acknowledge(response.results, serverClock: response.clock, physicalMillis: deviceTime(d))
            report.resends += summary.resent
            devices[d].latestClock = max(devices[d].latestClock, response.clock)
        } catch {
            problem("client", "dev-\(d) acknowledge threw \(error)")
        }
        if resending {
            var now: [Int64: MutationID] = [:]
            for entry in devices[d].replica.pendingEntries(limit: .max) { now[entry.seq] = entry.mutation.id }
            for entry in before {
                if let id = now[entry.seq], id != entry.mutation.id {
                    devices[d].resentAs[entry.mutation.id] = id
                    trace("dev-\(d) resends \(entry.mutation.id) whole as \(id)")
                }
            }
        }
        for result in response.results {
            guard devices[d].sent[result.mutation] != nil else {
                problem("server", "dev-\(d) got an answer for \(result.mutation), which it never pushed")
                continue
            }
            // Refused for the clock: nothing was stored, and the write goes again stamped anew.
            if result.rejection?.code == .clockTooFarAhead {
                devices[d].clockRefusedInSync = true
                continue
            }
            if let first = devices[d].answers[result.mutation] {
                if first != result {
                    problem("server", "dev-\(d) got two different answers for \(result.mutation): \(first.status.rawValue) v\(first.version), then \(result.status.rawValue) v\(result.version)")
                }
                continue
            }
            devices[d].answers[result.mutation] = result
            switch result.status {
            case .merged: report.merged += 1
            case .conflict: report.conflictResults += 1
            default: break
            }
        }
    }
}
