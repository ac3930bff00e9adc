public import SatchelProtocol

extension SyncSession {
    /// A local step of a sync: one call of the replica algorithm, in one transaction.
    public enum Step: Sendable {
        /// Whether the store went back in time (`recoverIfWentBack`); if so, every space is reset
        /// in the same transaction, so a crash cannot leave the counter moved and the spaces not.
        case recover(DeviceWriteState?, spaces: [SpaceID])
        case settleClock(serverTime: Timestamp, maxSkewMillis: Int64, serverHolds: DeviceWriteState?)
        /// The next push after outbox entry `after`, cut by count and bytes; a lone write too
        /// large for any push is set aside with the reason rather than stop every push after it.
        case readPush(after: Int64, limit: Int, maxBytes: Int, reportAsWritten: Bool)
        case acknowledge(PushResponse, sent: Int)
        /// Resets the spaces whose cursor is older than the server's history, and counts what
        /// there is to pull.
        case preparePulls([SpaceAccess])
        case pullRequest(SpaceID, horizon: Version, limit: Int, omitOwnAsWritten: Bool)
        /// Applies a page; throws `ReplicaGap` when the device's copy of a record is not the
        /// one a change was made against.
        case apply(PullResponse, of: PullRequest)
        case reset(SpaceID)
        case pendingCount
    }

    public enum StepResult: Sendable {
        case recovered(GoingBack)
        case clock(ClockCheck)
        /// The batch and its last outbox entry (nil: nothing pending), and how many were set aside.
        case pushRead((push: EncodedPush, last: Int64)?, setAside: Int)
        case acknowledged(AcknowledgeSummary, sent: Int)
        case pullsPrepared(rebootstrapped: [SpaceID], toPull: Int)
        case pullRequest(PullRequest)
        case applied(count: Int, hasMore: Bool)
        case reset
        case pending(Int)
    }
}

extension SyncSession.Step {
    /// Runs the step on `storage` at the device's physical time.
    public func run<S: ReplicaStorage>(on storage: inout S, physicalMillis: Int64) throws -> SyncSession.StepResult {
        switch self {
        case .recover(let state, let spaces):
            return .recovered(try storage.inTransaction { s in
                let going = try s.recoverIfWentBack(state, physicalMillis: physicalMillis)
                if going == .recovered { for space in spaces { try s.resetSpace(space) } }
                return going
            })
        case .settleClock(let serverTime, let maxSkew, let holds):
            return .clock(try storage.settleClock(serverTime: serverTime, maxSkewMillis: maxSkew, physicalMillis: physicalMillis, serverHolds: holds))
        case .readPush(let after, let limit, let maxBytes, let asWritten):
            return try storage.inTransaction { s in
                var batch = try s.pendingEncoded(after: after, limit: limit, maxBytes: maxBytes)
                var setAside = 0
                // Queued before the server's limits shrank (or resent whole, and grown).
                while batch.mutations.count == 1, batch.mutations[0].count > maxBytes {
                    try s.setAside(seq: batch.last, Rejection(
                        .tooLong, "this write is \(batch.mutations[0].count) bytes encoded and the server takes at most \(maxBytes) in one push; shorten it or split it into several notes"))
                    setAside += 1
                    batch = try s.pendingEncoded(after: batch.last, limit: limit, maxBytes: maxBytes)
                }
                if batch.mutations.isEmpty { return .pushRead(nil, setAside: setAside) }
                return .pushRead((EncodedPush(encodedMutations: batch.mutations, reportAsWritten: asWritten), batch.last), setAside: setAside)
            }
        case .acknowledge(let response, let sent):
            return .acknowledged(try storage.acknowledge(response.results, serverClock: response.clock, physicalMillis: physicalMillis), sent: sent)
        case .preparePulls(let spaces):
            return try storage.inTransaction { s in
                var rebootstrapped: [SpaceID] = [], toPull = 0
                for space in spaces {
                    if try s.mustRebootstrap(space.space, horizon: space.horizon) {
                        // Older than the server's history: rebuild the space, keeping unsent work.
                        try s.resetSpace(space.space)
                        rebootstrapped.append(space.space)
                    }
                    toPull += max(0, Int(space.head - (try s.cursor(of: space.space))))
                }
                return .pullsPrepared(rebootstrapped: rebootstrapped, toPull: toPull)
            }
        case .pullRequest(let space, let horizon, let limit, let omit):
            return .pullRequest(try storage.pullRequest(space, horizon: horizon, limit: limit, omitOwnAsWritten: omit))
        case .apply(let page, let request):
            try storage.applyPage(page, of: request, physicalMillis: physicalMillis)
            return .applied(count: page.changes.count, hasMore: page.hasMore)
        case .reset(let space):
            try storage.resetSpace(space)
            return .reset
        case .pendingCount:
            return .pending(try storage.pendingCount())
        }
    }
}
