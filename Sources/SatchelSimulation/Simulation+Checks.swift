import SatchelClient
import SatchelProtocol

/// Healing the network, then the checks every run must pass.
extension Simulation {
    /// No more writes, drops, long delays or partitions: every device syncs, round after round,
    /// until a whole round pushes nothing and pulls no change.
    mutating func heal() {
        faultsActive = false
        for d in devices.indices {
            devices[d].partitionedUntil = .min
            devices[d].stuck = false
            devices[d].wrongDateMillis = 0
        }
        trace("the network heals")
        drain()
        var quiet = false
        for round in 1...max(1, configuration.maxHealRounds) where !quiet {
            report.healRounds = round
            quiet = true
            // A device that cannot finish a sync (it cannot apply the space even from 0, or its
            // sync never ends) is left out and reported, so the others still show whether they converge.
            for d in devices.indices where !devices[d].stuck {
                devices[d].resetActivity()
                startSync(d)
                guard runUntilIdle(d) else { return }
                let device = devices[d]
                if device.pushedSinceReset + device.pulledSinceReset + device.failedSinceReset > 0 { quiet = false }
            }
        }
        drain()
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
    mutating func check() {
        let log = server.log
        let serverRecords = log.records.filter { !$0.value.deleted }.mapValues(\.values)

        // A mutation changes its record at most once, plus its own conflict records.
        var effects: Set<Effect> = []
        var changedKeys: [MutationID: [RecordKey]] = [:]
        for change in log.changes {
            guard let mutation = change.mutation else { continue }
            if !effects.insert(Effect(key: change.key, mutation: mutation)).inserted {
                problem("exactly-once", "mutation \(mutation) changed \(change.key) twice (second time at version \(change.version))")
            }
            changedKeys[mutation, default: []].append(change.key)
        }

        var replay = log
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
            let cursor = replica.cursor(of: Self.space)
            if cursor != log.head {
                problem("convergence", "dev-\(d) cursor is \(cursor), the server's head \(log.head)")
            }
            // (4) The workload writes only valid mutations. The one refusal it can meet: an edit
            // of a record that was deleted, then compacted away, while the device was offline.
            for entry in replica.rejectedEntries() {
                if case .rejected(let reason) = entry.state,
                    !(reason.code == .recordNotFound && entry.mutation.baseVersion <= log.horizon) {
                    problem("rejected", "dev-\(d) mutation \(entry.mutation.id) (\(entry.mutation.operation.rawValue) \(entry.mutation.key), base \(entry.mutation.baseVersion)) was rejected: \(reason)")
                }
            }
            // (3) Every acknowledged mutation was applied once: pushing it again returns the
            // stored answer and changes nothing, and it changed only its record and its conflicts.
            for (id, answer) in device.answers.sorted(by: { $0.key < $1.key }) where answer.status != .rejected {
                guard let m = device.sent[id] else { continue }
                let again = replay.push(m)
                if again != answer {
                    problem("exactly-once", "dev-\(d) was told \(id) was \(answer.status.rawValue) at v\(answer.version); pushed again it is \(again.status.rawValue) at v\(again.version)")
                }
                for key in changedKeys[id] ?? [] where key != m.key {
                    if !(key.collection == .conflicts && answer.conflicts.contains(key.record)) {
                        problem("exactly-once", "mutation \(id) of \(m.key) also changed \(key), which its answer does not list")
                    }
                }
            }
            // Nothing lost: every write (or its whole-text resend) reached the server.
            for id in device.written {
                var final = id
                var hops = 0
                while let next = device.resentAs[final], hops < 16 {
                    final = next
                    hops += 1
                }
                if log.result(of: final) == nil {
                    problem("lost", "dev-\(d) write \(id)\(final != id ? " (resent as \(final))" : "") never reached the server")
                }
            }
        }
        if replay.head != log.head || replay.records != log.records {
            problem("exactly-once", "pushing acknowledged mutations again changed the log (head \(log.head) → \(replay.head))")
        }
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
