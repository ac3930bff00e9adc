public import SatchelProtocol

/// Why the device must rebuild a space from the server: its copy of a record is not the one a
/// pulled change was made against (a change was missed), so it pulls the space again from 0.
public struct ReplicaGap: Error, Hashable, Sendable {
    public var key: RecordKey
    public var local: Version
    public var expected: Version
}

/// What a push's answers did to the outbox.
public struct AcknowledgeSummary: Hashable, Sendable {
    public var applied = 0
    public var merged = 0
    public var conflicts = 0
    public var rejected = 0
    /// Rejected only because a text diff could not be applied (requeued with the whole text),
    /// or because its id was another device's (requeued under a new one).
    public var resent = 0
    /// Refused because the device's clock is too far ahead: they stay queued and are stamped
    /// again once the clock is right (`settleClock`).
    public var waitingForClock = 0
    /// Refused because another machine holds a copy of this device (`device_copied`): they stay
    /// queued until the device joins again.
    public var copied = 0

    public init() {}

    public static func += (a: inout AcknowledgeSummary, b: AcknowledgeSummary) {
        a.applied += b.applied
        a.merged += b.merged
        a.conflicts += b.conflicts
        a.rejected += b.rejected
        a.resent += b.resent
        a.waitingForClock += b.waitingForClock
        a.copied += b.copied
    }
}

/// The client's sync algorithm, shared by every storage: local writes (applied at once and
/// queued in the same transaction), push batches and their answers, pulled pages applied to the
/// confirmed state with the device's unconfirmed writes replayed on top.
extension ReplicaStorage {
    /// Writes locally: the view changes at once and the mutation enters the outbox, in one
    /// transaction. `values` are the new full values of the fields written; text travels as a
    /// diff against the confirmed text when smaller, sets as additions and removals.
    /// - Throws: `Rejection` for values the schema refuses, or for a write whose encoding
    ///   is over `maxBytes` (what one push may carry, `Limits.maxPushMutationBytes`): nothing is
    ///   queued, so nothing sits in the outbox that the server could never take.
    @discardableResult
    public mutating func write(
        _ operation: Mutation.Operation, _ key: RecordKey, values: [FieldName: Value] = [:], physicalMillis: Int64, maxBytes: Int = .max
    ) throws -> Mutation {
        try inTransaction { s in
            var device = try s.deviceState()
            var clock = HybridLogicalClock(last: device.clock)
            let record = try s.record(key) ?? LocalRecord(key: key)
            if operation != .create && record.view == nil {
                throw Rejection(.recordNotFound, "there is no record \(key) on this device")
            }
            var changes: [FieldName: FieldChange] = [:]
            var texts: [FieldName: String] = [:]
            for (name, value) in values {
                if case .text(let text) = value {
                    let base = record.confirmedVersion > 0 && operation == .patch ? record.confirmed?[name]?.textValue : nil
                    changes[name] = FieldChange.text(from: base, to: text)
                    // A diff's result, to replay it and to resend it whole; whole text is in the mutation.
                    if case .textDiff = changes[name] { texts[name] = text }
                } else if operation == .patch {
                    changes[name] = FieldChange.set(from: record.view?[name], to: value)
                } else {
                    changes[name] = .set(value)
                }
            }
            device.counter += 1
            // 128 random bits (PROTOCOL.md §1): an id another device could guess would let it
            // take this write's place on the server.
            let mutation = Mutation(
                id: s.newMutationID(),
                device: device.device, counter: device.counter, clock: clock.now(physicalMillis: physicalMillis),
                key: key, baseVersion: record.confirmedVersion, operation: operation, changes: changes)
            try s.schema.validate(mutation)
            try s.schema.checkDeviceAccess(mutation)
            for (name, value) in values {
                let field = try s.schema.collection(key.collection).fields[name]!
                try s.schema.validate(value, for: field, in: key.collection)
            }
            if maxBytes < .max, case let size = mutation.wireBytes.count, size > maxBytes {
                throw Rejection(.tooLong, "this write is \(size) bytes encoded and the server takes at most \(maxBytes) in one push; shorten it or split it into several notes")
            }
            device.clock = clock.last
            try s.saveDeviceState(device)
            _ = try s.appendOutbox(OutboxEntry(mutation: mutation, texts: texts))
            if try s.record(key) == nil { try s.saveRecord(record) }
            try s.rebuildView(key)
            return mutation
        }
    }

    /// The next mutations to push, oldest first.
    public func nextBatch(limit: Int) throws -> [Mutation] {
        try pendingEntries(limit: limit).map(\.mutation)
    }

    /// Sets the pending write `seq` aside, refused on the device's side for `reason` (shown with
    /// the server's refusals, `rejectedEntries`); the view drops it as for any refusal.
    public mutating func setAside(seq: Int64, _ reason: Rejection) throws {
        try inTransaction { s in
            guard var entry = try s.pendingEntries(after: seq - 1, limit: 1).first, entry.seq == seq else { return }
            entry.state = .rejected(reason)
            try s.updateOutbox(entry)
            try s.rebuildView(entry.mutation.key)
        }
    }

    /// Records the server's answers to a push, in one transaction.
    @discardableResult
    public mutating func acknowledge(_ results: [MutationResult], serverClock: HLC?, physicalMillis: Int64) throws -> AcknowledgeSummary {
        try inTransaction { s in
            var summary = AcknowledgeSummary()
            // Whether each space was pulled and no bootstrap is under way: asked once per push.
            var settled: [SpaceID: Bool] = [:]
            func isSettled(_ space: SpaceID) throws -> Bool {
                if let known = settled[space] { return known }
                let value = try s.cursor(of: space) > 0 && s.bootstrapHorizon(of: space) == nil
                settled[space] = value
                return value
            }
            var answered: UInt64 = 0
            for result in results {
                guard let head = try s.outboxHead(result.mutation), !head.isRejected else { continue }
                answered = max(answered, head.counter)
                switch result.status {
                case .rejected where result.rejection?.code == .clockTooFarAhead:
                    // Not the write's fault: it waits, queued, for the clock to be right.
                    summary.waitingForClock += 1
                    continue
                case .rejected where result.rejection?.code == .deviceCopied:
                    // Nothing was stored: the write waits for this machine to join on its own.
                    summary.copied += 1
                    continue
                case .rejected:
                    guard var entry = try s.outboxEntry(result.mutation) else { continue }
                    let reason = result.rejection ?? Rejection(.invalidValue, "rejected without a reason")
                    if result.rejection?.code == .mutationIDTaken || (result.mayBeResent && entry.texts.count > 0) {
                        // Sent again under a new id: the old id is another device's, or its
                        // rejection is final on the server. When the server no longer has the
                        // text a diff was made against, the text goes whole.
                        var m = entry.mutation
                        if result.rejection?.code != .mutationIDTaken {
                            for (name, text) in entry.texts { m.changes[name] = .set(.text(text)) }
                        }
                        m.id = s.newMutationID()
                        // A new counter and clock too: the server holds the old ones (§3).
                        var device = try s.deviceState()
                        Self.renumber(&m, &device, physicalMillis: physicalMillis)
                        try s.saveDeviceState(device)
                        entry.mutation = m
                        try s.updateOutbox(entry)
                        summary.resent += 1
                    } else {
                        entry.state = .rejected(reason)
                        try s.updateOutbox(entry)
                        summary.rejected += 1
                    }
                case .applied, .merged, .conflict:
                    switch result.status {
                    case .applied: summary.applied += 1
                    case .merged: summary.merged += 1
                    default: summary.conflicts += 1
                    }
                    let confirmed = try s.confirmedVersion(of: head.key) ?? 0
                    if result.version == 0 || result.version <= confirmed {
                        try s.removeOutbox(seq: head.seq)
                    } else if result.status == .applied, Self.confirmsAtOnce(head, result, confirmed: confirmed),
                        try isSettled(head.key.space), try s.confirmOwnWrite(head, result.mutation, at: result.version, asWritten: result.asWritten) {
                        // Confirmed now, so the change is not applied again when pulled (or not
                        // even sent: `omitOwnAsWritten`). Not during a bootstrap: a snapshot does
                        // not bring back records deleted and compacted since. The view is the
                        // confirmed state with the entries replayed on it; the first entry moved
                        // into the confirmed state, so it is unchanged.
                        try s.removeOutbox(seq: head.seq)
                        continue
                    } else {
                        // The view replays acknowledged entries as it did pending ones, so it
                        // stays as it is: no rebuild (the common case of a bulk push).
                        try s.markAcknowledged(seq: head.seq, version: result.version, asWritten: result.asWritten)
                        continue
                    }
                }
                try s.rebuildView(head.key)
            }
            var device = try s.deviceState()
            device.answeredCounter = max(device.answeredCounter, answered)
            if let serverClock {
                var clock = HybridLogicalClock(last: device.clock, maxSkewMillis: .max / 2)
                device.clock = try clock.observe(serverClock, physicalMillis: physicalMillis)
            }
            try s.saveDeviceState(device)
            return summary
        }
    }

    /// Makes `entry`, applied at `version` on exactly the state the device holds, part of the
    /// confirmed state; false (nothing done) unless it is the record's oldest write of the
    /// device's own, or when a patch finds no live record to apply to.
    mutating func confirmOwnWrite(_ head: OutboxHead, _ mutation: MutationID, at version: Version, asWritten: Bool) throws -> Bool {
        let key = head.key
        let seqs = try outboxSeqs(for: key)
        guard seqs.first == head.seq else { return false }
        if asWritten && seqs.count == 1 {
            // The device's only write to the record: what it shows is the server's record.
            try confirmView(of: key, version: version)
            return true
        }
        guard let entry = try outboxEntry(mutation), var record = try record(key),
              head.operation == .create || record.confirmed != nil else { return false }
        record.confirmed = Self.replay(entry, on: record.confirmed)
        record.confirmedVersion = version
        try saveRecord(record)
        return true
    }

    /// Whether an applied write's result shows the server's record is the device's own replay:
    /// the server says so (`asWritten`), or, from servers that do not, a patch or delete based
    /// on the confirmed version. A create needs the server's word: the id may hold a tombstone
    /// whose fields a create revives.
    static func confirmsAtOnce(_ head: OutboxHead, _ result: MutationResult, confirmed: Version) -> Bool {
        if result.asWritten { return head.operation == .create || head.baseVersion == confirmed }
        return head.operation != .create && confirmed > 0 && confirmed == head.baseVersion
    }

    /// The next pull for `space`, whose horizon (from the last hello) is `horizon`: a bootstrap
    /// (snapshot) from 0 or one in progress, else an incremental pull after the cursor.
    ///
    /// `omitOwnAsWritten` is the caller's word that no push of this device can still be answered
    /// while the pull runs. The pull then leaves out this device's writes applied as written,
    /// provided every such write was confirmed when acknowledged (other acknowledged writes
    /// still come back: the server sends them).
    public func pullRequest(_ space: SpaceID, horizon: Version, limit: Int, omitOwnAsWritten: Bool = false) throws -> PullRequest {
        let cursor = try cursor(of: space)
        if cursor == 0 { return PullRequest(space: space, after: 0, limit: limit, bootstrap: horizon) }
        let bootstrap = try bootstrapHorizon(of: space)
        let omit = try omitOwnAsWritten && bootstrap == nil && asWrittenAcknowledgedCount(in: space) == 0
        return PullRequest(space: space, after: cursor, limit: limit, bootstrap: bootstrap, omitOwnAsWritten: omit)
    }

    /// Whether the device must pull `space` again from 0 before asking: its cursor is older
    /// than the server keeps, or the space was compacted during its bootstrap.
    public func mustRebootstrap(_ space: SpaceID, horizon: Version) throws -> Bool {
        let cursor = try cursor(of: space)
        guard cursor > 0 else { return false }
        if let began = try bootstrapHorizon(of: space) { return began != horizon }
        return cursor < horizon
    }

    /// Applies one page pulled with `request` and stores its cursor, in one transaction.
    /// A change with `previousVersion` 0 carries a whole record (a snapshot, or a record new to
    /// the log) and replaces the device's copy unless that is already as new.
    /// - Throws: `ReplicaGap` when a change does not follow the device's copy of its record.
    public mutating func applyPage(_ page: PullResponse, of request: PullRequest, physicalMillis: Int64) throws {
        try inTransaction { s in
            var device = try s.deviceState()
            var clock = HybridLogicalClock(last: device.clock, maxSkewMillis: .max / 2)
            for change in page.changes {
                var record = try s.record(change.key) ?? LocalRecord(key: change.key)
                // Already as new: the device's own write confirmed when acknowledged, or a
                // record a snapshot sent before it changed again.
                if record.confirmedVersion >= change.version { continue }
                let whole = change.previousVersion == 0
                guard whole || record.confirmedVersion == change.previousVersion else {
                    throw ReplicaGap(key: change.key, local: record.confirmedVersion, expected: change.previousVersion)
                }
                do {
                    record.confirmed = try change.apply(to: whole ? nil : record.confirmed)
                } catch {
                    throw ReplicaGap(key: change.key, local: record.confirmedVersion, expected: change.previousVersion)
                }
                record.confirmedVersion = change.version
                try s.saveRecord(record)
                // Writes the server has now delivered back are done.
                for entry in try s.outbox(for: change.key) {
                    if case .acknowledged(let version) = entry.state, version <= change.version {
                        try s.removeOutbox(seq: entry.seq)
                    }
                }
                try s.rebuildView(change.key)
                _ = try? clock.observe(change.clock, physicalMillis: physicalMillis)
            }
            device.clock = clock.last
            try s.saveDeviceState(device)
            try s.setCursor(page.cursor, of: page.space)
            if request.bootstrap != nil && !page.hasMore {
                // The snapshot is complete up to its cursor. A write acknowledged at or below it
                // whose record never came was deleted and compacted away since: it is done.
                for entry in try s.acknowledgedEntries() where entry.mutation.key.space == page.space {
                    if case .acknowledged(let version) = entry.state, version <= page.cursor {
                        try s.removeOutbox(seq: entry.seq)
                        try s.rebuildView(entry.mutation.key)
                    }
                }
            }
            let bootstrapping = request.bootstrap != nil && page.hasMore ? request.bootstrap : nil
            if try s.bootstrapHorizon(of: page.space) != bootstrapping { try s.setBootstrapHorizon(bootstrapping, of: page.space) }
        }
    }

    /// Forgets what the server confirmed for a space (keeping every unsent write) so it can be
    /// pulled again from 0: after a gap, or when the cursor is older than the server's history.
    public mutating func resetSpace(_ space: SpaceID) throws {
        try inTransaction { s in
            for var record in try s.records(in: space) {
                record.confirmed = nil
                record.confirmedVersion = 0
                try s.saveRecord(record)
                // Acknowledged writes will come back with the pull; pending ones stay.
                for entry in try s.outbox(for: record.key) {
                    if case .acknowledged = entry.state { try s.removeOutbox(seq: entry.seq) }
                }
                try s.rebuildView(record.key)
            }
            try s.setCursor(0, of: space)
            try s.setBootstrapHorizon(nil, of: space)
        }
    }

    /// Recomputes what the user sees: the confirmed values with the device's own unconfirmed
    /// writes replayed in order (texts as written, set deltas on the current set). Stores the
    /// record (and re-indexes it) only when the view changed.
    mutating func rebuildView(_ key: RecordKey) throws {
        guard var record = try record(key) else { return }
        var view = record.confirmed
        for entry in try outbox(for: key) { view = Self.replay(entry, on: view) }
        guard view != record.view else { return }
        record.view = view
        try saveRecord(record)
    }

    /// The values after the device's own write `entry`, replayed on `view`.
    static func replay(_ entry: OutboxEntry, on view: [FieldName: Value]?) -> [FieldName: Value]? {
        let m = entry.mutation
        switch m.operation {
        case .delete:
            return nil
        case .create, .patch:
            // A patch of a record deleted meanwhile revives it on the server (edit wins); the
            // revived record arrives with the next pull.
            if m.operation == .patch && view == nil { return nil }
            var v = view ?? [:]
            for (name, change) in m.changes {
                switch change {
                case .set(let value): v[name] = value
                case .textDiff: v[name] = entry.texts[name].map(Value.text) ?? v[name]
                case .setDelta(let add, let remove): v[name] = Merge.applyDelta(to: v[name] ?? .null, add: add, remove: remove)
                }
            }
            return v
        }
    }
}

extension MutationResult {
    /// Whether acknowledging this result may queue its write again under a new id: the server
    /// could not apply a text diff (the write is sent again whole when it has texts), or the id
    /// is another device's.
    public var mayBeResent: Bool {
        guard status == .rejected, let code = rejection?.code else { return false }
        return code == .baseExpired || code == .diffBaseMismatch || code == .mutationIDTaken
    }
}
