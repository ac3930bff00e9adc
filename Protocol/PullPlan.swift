/// How a server answers a pull: from the change log, from a snapshot of current record states,
/// or not at all because the cursor can no longer be served. Every store follows these rules
/// (PROTOCOL.md §7), so they live here once.
public enum PullPlan: Hashable, Sendable {
    /// The changes after the cursor, as deltas against what the device holds.
    case log
    /// Each record's current state with a version after the cursor (a bootstrap).
    case snapshot
    /// The device must forget what it pulled and start again from 0; the message says why.
    case expired(String)

    /// - Parameters:
    ///   - horizon: the space's horizon: changes at or below it were compacted away.
    ///   - resetRequested: an operator asked this device to pull the space again.
    public static func plan(_ request: PullRequest, horizon: Version, resetRequested: Bool) -> PullPlan {
        let space = request.space
        if resetRequested && request.after > 0 {
            return .expired("an operator asked this device to pull space '\(space)' again from the start; it keeps its unsent work")
        }
        if let began = request.bootstrap {
            // A snapshot stays consistent while it is read page by page, unless compaction
            // dropped tombstones of records the device already received.
            if request.after > 0 && began != horizon {
                return .expired("space '\(space)' was compacted while this device was pulling it; pull it again from the start")
            }
            return .snapshot
        }
        if request.after < horizon {
            return .expired(
                request.after == 0
                    ? "space '\(space)' keeps its change log only after version \(horizon); pull it with a bootstrap (snapshot) request"
                    : "this device last pulled space '\(space)' at version \(request.after), but the server keeps changes only after \(horizon); pull it again from the start")
        }
        return .log
    }
}

extension Change {
    /// A record's whole current state as one change with `previousVersion` 0, as a snapshot
    /// (bootstrap) page carries it: the device replaces what it holds instead of applying a delta.
    public init(snapshotOf state: RecordState, key: RecordKey) {
        self.init(
            version: state.version, previousVersion: 0, key: key, kind: state.deleted ? .delete : .upsert,
            fields: state.deleted ? [:] : state.fields.mapValues { .set($0.value) },
            clock: state.latestClock, mutation: nil)
    }
}
