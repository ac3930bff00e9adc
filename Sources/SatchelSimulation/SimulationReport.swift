/// Something a run found wrong. `kind` is a short stable name to group failures by.
public struct SimulationProblem: Hashable, Sendable, CustomStringConvertible {
    public var kind: String
    public var message: String

    public init(kind: String, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "[\(kind)] \(message)" }
}

/// What one seeded run did and found. Two runs of one seed must produce equal reports.
public struct SimulationReport: Hashable, Sendable, CustomStringConvertible {
    public var seed: UInt64
    public var devices = 0
    public var steps = 0
    /// Everything the checks found; empty when the run is correct.
    public var problems: [SimulationProblem] = []
    /// Problems found beyond the first 40, which are not kept.
    public var moreProblems = 0

    // Workload.
    public var writes = 0
    public var creates = 0
    /// Creates of a shared note id (they collide with other devices' creates and edits).
    public var sharedCreates = 0
    public var patches = 0
    public var deletes = 0
    /// Deletes of conflict records (resolving a conflict).
    public var conflictDeletes = 0
    /// Writes too long for any push (set aside with the reason).
    public var oversizedWrites = 0
    /// Writes refused at once as too long for any push (never queued).
    public var refusedAtWrite = 0

    // Network.
    public var messagesSent = 0
    public var dropped = 0
    public var duplicated = 0
    /// Messages held back long enough to reorder with others or outlive the sender's timeout.
    public var delayed = 0
    /// Deliveries that overtook a message sent earlier.
    public var reordered = 0
    public var partitions = 0
    /// Messages lost because their device was cut off from the server.
    public var partitionDrops = 0
    public var timeouts = 0
    /// Answers that arrived after the device stopped waiting for them (a timed-out or crashed
    /// session's, or the second copy of a duplicated request's): dropped, as a closed connection's.
    public var staleAnswers = 0

    // Sync.
    public var syncs = 0
    public var finishedSyncs = 0
    public var failedSyncs = 0
    /// Syncs that ended with the device's clock too far ahead (its writes wait).
    public var clockWaits = 0
    public var pushes = 0
    public var pulls = 0
    /// Pulls that asked the server to leave out the device's own writes applied as written.
    public var pullsOmittingOwn = 0
    /// Mutations pushed more than once (retries and duplicate deliveries reach the server again).
    public var repushedMutations = 0
    public var merged = 0
    /// Mutations whose result was `conflict`.
    public var conflictResults = 0
    /// Conflict records the server holds at the end (deleted ones included).
    public var conflictRecords = 0
    /// Text diffs the server could not apply (base forgotten), resent whole by the device.
    public var resends = 0
    /// Stores put back to an earlier copy, and recoveries from that at the next hello.
    public var restores = 0
    public var restoreRecoveries = 0
    /// Dates set a year ahead; writes stamped again once fixed; replayed ids refused.
    public var wrongDates = 0
    public var restamped = 0
    public var replayedIDsRefused = 0
    public var compactions = 0
    /// Crashes: devices (a sync's memory lost) and the server (restarted over its store).
    public var deviceCrashes = 0
    public var serverCrashes = 0
    /// Runs of the snapshot builder, operators' re-bootstrap requests and briefing updates.
    public var snapshotBuilds = 0
    public var operatorResets = 0
    public var briefingUpdates = 0
    public var cursorExpired = 0
    public var resets = 0
    public var gaps = 0
    public var healRounds = 0
    /// Requests each server answered (by its index; one server: all at 0).
    public var requestsPerServer: [Int: Int] = [:]
    public var serverHead: Int64 = 0
    /// Simulated milliseconds from the start to quiescence.
    public var elapsedMillis: Int64 = 0
    /// A hash of every frame sent and the final state (see `Digest`).
    public var digest: UInt64 = 0
    /// One line per event when `SimulationConfiguration.trace` is on.
    public var trace: [String] = []

    public init(seed: UInt64) { self.seed = seed }

    public var description: String {
        var lines = [
            "seed \(seed): \(devices) devices, \(steps) steps, \(elapsedMillis) ms simulated, head \(serverHead), digest \(String(digest, radix: 16))",
            "  writes \(writes) (creates \(creates), shared \(sharedCreates), patches \(patches), deletes \(deletes), conflict deletes \(conflictDeletes), too long for any push \(oversizedWrites) set aside, \(refusedAtWrite) refused at once)",
            "  network: sent \(messagesSent), dropped \(dropped), duplicated \(duplicated), delayed \(delayed), reordered \(reordered), partitions \(partitions) (lost \(partitionDrops)), timeouts \(timeouts), stale answers \(staleAnswers)",
            "  sync: \(syncs) syncs (\(finishedSyncs) finished, \(failedSyncs) failed, \(clockWaits) waiting for the clock), \(pushes) pushes (\(repushedMutations) mutations re-pushed), \(pulls) pulls (\(pullsOmittingOwn) leaving out own writes), merged \(merged), conflict results \(conflictResults), conflict records \(conflictRecords), resends \(resends), compactions \(compactions), cursor expired \(cursorExpired), resets \(resets), gaps \(gaps), heal rounds \(healRounds)",
            "  requests answered per server: \(requestsPerServer.sorted { $0.key < $1.key }.map { "\($0.value)" }.joined(separator: ", "))",
            "  crashes: devices \(deviceCrashes), servers \(serverCrashes); operators: snapshot builds \(snapshotBuilds), re-bootstrap requests \(operatorResets), briefing updates \(briefingUpdates)",
            "  adversity: restores \(restores) (recovered \(restoreRecoveries)), wrong dates \(wrongDates) (writes stamped again \(restamped)), replayed ids refused \(replayedIDsRefused)",
        ]
        if problems.isEmpty {
            lines.append("  no problems")
        } else {
            lines.append("  \(problems.count) problems:")
            lines += problems.map { "    \($0)" }
            if moreProblems > 0 { lines.append("    … and \(moreProblems) more") }
        }
        return lines.joined(separator: "\n")
    }
}
