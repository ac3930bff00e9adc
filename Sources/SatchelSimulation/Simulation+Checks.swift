import SatchelClient
import SatchelProtocol

/// Healing the network, then the checks every run must pass.
extension Simulation {
    /// No more writes, drops, long delays or partitions: every device syncs, round after round,
    /// until a whole round pushes nothing and pulls no change.
    mutating func heal() async {
        faultsActive = false
        for d in devices.indices {
            devices[d].partitionedUntil = .min
            devices[d].stuck = false
            devices[d].wrongDateMillis = 0
        }
        trace("the network heals")
        await drain()
        var quiet = false
        for round in 1...max(1, configuration.maxHealRounds) where !quiet {
            report.healRounds = round
            quiet = true
            // A device that cannot finish a sync is left out and reported, so the others still
            // show whether they converge.
            for d in devices.indices where !devices[d].stuck {
                devices[d].resetActivity()
                await startSync(d)
                guard await runUntilIdle(d) else { return }
                let device = devices[d]
                if device.pushedSinceReset + device.pulledSinceReset + device.failedSinceReset > 0 { quiet = false }
            }
        }
        await drain()
        let stuck = devices.indices.filter { devices[$0].stuck }
        if !stuck.isEmpty {
            problem("convergence", "\(stuck.map { "dev-\($0)" }.joined(separator: ", ")) cannot finish a sync any more (see the stuck problems)")
        } else if !quiet {
            problem("convergence", "devices still pushed or pulled changes after \(configuration.maxHealRounds) rounds of syncing on a healed network")
        }
    }

    struct Effect: Hashable {
        var key: RecordKey
        var mutation: MutationID
    }

    /// Everyone equals the server, nothing is pending or rejected, every acknowledged mutation
    /// took effect exactly once, and no write was lost.
    mutating func check() async {
        await checkAcknowledged()
        var serverRecords: [RecordKey: [FieldName: Value]] = [:]
        var heads: [SpaceID: Version] = [:]
        for space in [Self.space, Self.briefing] {
            for collection in [CollectionName.notes, .entries, .conflicts] {
                for (key, state) in (try? store.records(in: space, collection: collection)) ?? [:] where !state.deleted {
                    serverRecords[key] = state.values
                }
            }
            heads[space] = (try? store.head(of: space).head) ?? -1
        }

        // A mutation changes its record at most once, plus its own conflict records.
        var effects: Set<Effect> = []
        var changedKeys: [MutationID: [RecordKey]] = [:]
        for change in store.loggedChanges(in: Self.space) {
            guard let mutation = change.mutation else { continue }
            if !effects.insert(Effect(key: change.key, mutation: mutation)).inserted {
                problem("exactly-once", "mutation \(mutation) changed \(change.key) twice (second time at version \(change.version))")
            }
            changedKeys[mutation, default: []].append(change.key)
        }

        let horizon = (try? store.head(of: Self.space).horizon) ?? 0
        for d in devices.indices {
            let device = devices[d]
            let replica = device.replica

            // (1) Confirmed state equals the server's records, byte for byte.
            let confirmed = replica.confirmedRecords
            if let difference = Self.firstDifferences(confirmed, serverRecords) {
                problem("convergence", "dev-\(d) confirmed records differ from the server's: \(difference)")
            }
            // (2) Nothing pending: the view is the confirmed state.
            let visible = replica.visibleRecords
            if let difference = Self.firstDifferences(visible, confirmed) {
                problem("pending", "dev-\(d) sees something else than the server confirmed: \(difference)")
            }
            let pending = replica.pendingCount()
            if pending != 0 {
                let ids = replica.pendingEntries(limit: 5).map(\.mutation.id.rawValue)
                problem("pending", "dev-\(d) still has \(pending) pending mutations after healing (\(ids.joined(separator: ", ")))")
            }
            for (space, head) in heads.sorted(by: { $0.key < $1.key }) where replica.cursor(of: space) < head {
                problem("convergence", "dev-\(d) cursor of \(space) is \(replica.cursor(of: space)), the server's head \(head)")
            }
            // (4) The workload writes only valid mutations. The refusals it can meet: an edit of
            // a record that was deleted, then compacted away, while the device was offline; a
            // write too long for any push, set aside before it is sent.
            for entry in replica.rejectedEntries() {
                if case .rejected(let reason) = entry.state,
                    !(reason.code == .recordNotFound && entry.mutation.baseVersion <= horizon),
                    !(reason.code == .tooLong && oversized.contains(entry.mutation.id)) {
                    problem("rejected", "dev-\(d) mutation \(entry.mutation.id) (\(entry.mutation.operation.rawValue) \(entry.mutation.key), base \(entry.mutation.baseVersion)) was rejected: \(reason)")
                }
            }
            // (3) It changed only its record and its conflicts.
            for (id, answer) in device.answers.sorted(by: { $0.key < $1.key }) where answer.status != .rejected {
                guard let m = device.sent[id] else { continue }
                for key in changedKeys[id] ?? [] where key != m.key {
                    if !(key.collection == .conflicts && answer.conflicts.contains(key.record)) {
                        problem("exactly-once", "mutation \(id) of \(m.key) also changed \(key), which its answer does not list")
                    }
                }
            }
            // Nothing lost: every write (or its whole-text resend) reached the server.
            let finals = device.written.map { id -> MutationID in
                var final = id
                var hops = 0
                while let next = device.resentAs[final], hops < 16 {
                    final = next
                    hops += 1
                }
                return final
            }
            for (id, (final, stored)) in zip(device.written, zip(finals, store.storedResults(finals))) where stored == nil && !oversized.contains(id) {
                problem("lost", "dev-\(d) write \(id)\(final != id ? " (resent as \(final))" : "") never reached the server")
            }
        }
        await pushAcknowledgedAgain()
    }

    /// Every acknowledged write pushed again, through every server's front door: each must get
    /// the answer it got the first time, whichever server gave it, and the log must not move.
    mutating func pushAcknowledgedAgain() async {
        let before = (try? store.head(of: Self.space).head) ?? 0
        for server in servers {
            for d in devices.indices {
                let again = devices[d].answers.sorted(by: { $0.key < $1.key }).filter { $0.value.status != .rejected }.compactMap { devices[d].sent[$0.key] }
                for batch in Self.batches(again, maxBytes: Self.limits.maxPushMutationBytes) {
                    let answer = await server.endpoints.answer(.push, authorization: "Bearer \(devices[d].token)",
                                                        body: Frame.encode(.pushRequest(PushRequest(mutations: batch, reportAsWritten: true))))
                    guard case .pushResponse(let response)? = try? HTTPTransport.reply(status: answer.status, body: answer.frame, server: "sim") else {
                        problem("exactly-once", "dev-\(d)'s acknowledged writes pushed again got HTTP \(answer.status) \(Self.summary(answer.frame))")
                        continue
                    }
                    for result in response.results {
                        guard let first = devices[d].answers[result.mutation], first != result else { continue }
                        problem("exactly-once", "dev-\(d) was told \(result.mutation) was \(first.status.rawValue) at v\(first.version); pushed again it is \(result.status.rawValue) at v\(result.version)")
                    }
                }
            }
        }
        let after = (try? store.head(of: Self.space).head) ?? 0
        if after != before { problem("exactly-once", "pushing acknowledged mutations again changed the log (head \(before) → \(after))") }
    }

    /// `mutations` in order, in batches whose encodings fit `maxBytes` (a lone larger one alone).
    static func batches(_ mutations: [Mutation], maxBytes: Int) -> [[Mutation]] {
        var out: [[Mutation]] = [], batch: [Mutation] = [], bytes = 0
        for m in mutations {
            let size = m.wireBytes.count
            if !batch.isEmpty && (bytes + size > maxBytes || batch.count == 100) {
                out.append(batch)
                (batch, bytes) = ([], 0)
            }
            batch.append(m)
            bytes += size
        }
        if !batch.isEmpty { out.append(batch) }
        return out
    }

    /// Up to three records that differ, described; nil when the two are equal. Strings and
    /// texts are compared byte for byte too: Swift's `==` treats canonically equivalent text
    /// (composed and decomposed accents) as equal, but a text diff's checksum does not.
    static func firstDifferences(_ a: [RecordKey: [FieldName: Value]], _ b: [RecordKey: [FieldName: Value]]) -> String? {
        var out: [String] = []
        var count = 0
        for key in Set(a.keys).union(b.keys).sorted() where !identical(a[key], b[key]) {
            count += 1
            if out.count < 3 { out.append("\(key): \(show(a[key])) vs \(show(b[key]))") }
        }
        return count == 0 ? nil : "\(count) records differ; " + out.joined(separator: "; ")
    }

    static func identical(_ a: [FieldName: Value]?, _ b: [FieldName: Value]?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        guard a == b else { return false }
        for (name, value) in a {
            switch (value, b[name]) {
            case (.string(let x), .string(let y)?), (.text(let x), .text(let y)?):
                if !x.utf8.elementsEqual(y.utf8) { return false }
            case (.stringSet(let x), .stringSet(let y)?):
                if !x.elementsEqual(y, by: { $0.utf8.elementsEqual($1.utf8) }) { return false }
            default:
                break
            }
        }
        return true
    }

    static func show(_ values: [FieldName: Value]?) -> String {
        guard let values else { return "absent" }
        let fields = values.keys.sorted().map { name -> String in
            switch values[name]! {
            case .string(let s), .text(let s):
                let bytes = s.utf8.count
                return "\(name)=\"\(s.count > 60 ? String(s.prefix(57)) + "…" : s)\" (\(bytes) B)"
            case .stringSet(let s):
                return "\(name)={\(s.joined(separator: ","))}"
            case let other:
                return "\(name)=\(other)"
            }
        }
        return "{" + fields.joined(separator: " ") + "}"
    }
}
