import Testing
@testable import SatchelProtocol

/// Seeded random concurrent histories: several devices edit the same few notes offline, push
/// with lost responses (so they retry) and duplicated requests, and pull at random. The log must
/// be deterministic, unaffected by duplicates, keep every write's effect or a conflict holding
/// it, and every device must end equal to the server.
///
/// A failure names its seed; replay it alone with `SATCHEL_SEED=<seed> swift test --filter PropertyTests`.
@Suite struct PropertyTests {
    static var seeds: [UInt64] {
        if let s = Environment.seed { return [s] }
        return Array(1...400)
    }

    @Test(arguments: seeds)
    func randomHistoriesMergeDeterministicallyAndLoseNothing(seed: UInt64) throws {
        let run1 = try Simulation.run(seed: seed)
        let run2 = try Simulation.run(seed: seed)
        #expect(run1.log.records == run2.log.records, "seed \(seed): two runs of one history differ")

        // Idempotency: the distinct mutations in first-arrival order, without any retry or
        // duplicate, produce exactly the same records.
        var clean = ChangeLog()
        for m in run1.firstArrivals { clean.push(m) }
        #expect(clean.records == run1.log.records, "seed \(seed): duplicates or retries changed the outcome")
        #expect(run1.duplicatesDelivered > 0 || run1.firstArrivals.count < 3, "seed \(seed): the run exercised no duplicates")

        // Convergence: every device equals the server.
        let server = run1.log.records.filter { !$0.value.deleted }.mapValues(\.values)
        for device in run1.devices {
            #expect(device.pending.isEmpty, "seed \(seed): \(device.writer.device) still has pending mutations")
            #expect(device.confirmedValues == server, "seed \(seed): \(device.writer.device) differs from the server")
        }

        // Nothing lost: checked at every first arrival (see `checkEffect`).
        for problem in run1.problems {
            Issue.record("seed \(seed): \(problem)")
        }
    }
}

enum Environment {
    static var seed: UInt64? {
        guard let raw = getenv("SATCHEL_SEED") else { return nil }
        return UInt64(String(cString: raw))
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One simulated device: what the server confirmed, its unsent work, and its view (confirmed + pending).
struct SimDevice {
    var writer: Writer
    var confirmed: [RecordKey: (version: Version, values: [FieldName: Value]?)] = [:]
    var cursor: Version = 0
    /// Pending mutations with the full values they set (a text diff's result), to rebuild the view.
    var pending: [(mutation: Mutation, values: [FieldName: Value])] = []

    var confirmedValues: [RecordKey: [FieldName: Value]] {
        confirmed.compactMapValues(\.values)
    }

    /// The record as the device shows it: confirmed, then its own pending writes on top.
    func view(_ key: RecordKey) -> [FieldName: Value]? {
        var v = confirmed[key]?.values
        for (m, values) in pending where m.key == key {
            switch m.operation {
            case .delete: v = nil
            case .create: v = (v ?? [:]).merging(values) { $1 }
            case .patch: if v != nil { v = v!.merging(values) { $1 } }
            }
        }
        return v
    }
}

struct Simulation {
    var log = ChangeLog()
    var devices: [SimDevice]
    var rng: SeededRandom
    var firstArrivals: [Mutation] = []
    var arrived: Set<MutationID> = []
    var duplicatesDelivered = 0
    var results: [MutationID: MutationResult] = [:]
    var problems: [String] = []

    static let keys = (1...3).map { RecordKey(space: "mission", collection: .notes, record: RecordID(unchecked: "note-\($0)")) }
    static let titles = ["Z-Park", "Suzhou SIP", "Shenzhen", "Chengdu CDHT", "Wuhan", "MoST meeting"]
    static let words = ["cluster", "park", "visit", "robotics", "battery", "agreed", "follow", "up", "with", "partner", "EU", "China"]
    static let tagPool = ["ict", "ev", "ai", "health", "beijing", "shanghai"]

    static func run(seed: UInt64) throws -> Simulation {
        var sim = Simulation(
            devices: ["dev-a", "dev-b", "dev-c"].map { SimDevice(writer: Writer(DeviceID(unchecked: $0), at: 1_000_000)) },
            rng: SeededRandom(seed: seed))
        for _ in 0..<60 {
            let d = Int.random(in: 0..<sim.devices.count, using: &sim.rng)
            switch Int.random(in: 0..<10, using: &sim.rng) {
            case 0..<5: sim.write(d)
            case 5..<8: try sim.push(d)
            default: try sim.pull(d)
            }
        }
        // Heal: everyone pushes until nothing is pending, then everyone pulls.
        for d in sim.devices.indices {
            while !sim.devices[d].pending.isEmpty { try sim.push(d, reliable: true) }
        }
        for d in sim.devices.indices { try sim.pull(d) }
        return sim
    }

    mutating func write(_ d: Int) {
        let key = Self.keys.randomElement(using: &rng)!
        var dev = devices[d]
        dev.writer.millis += Int64.random(in: 0...50, using: &rng)
        let base = dev.confirmed[key]?.version ?? 0
        let m: Mutation
        var values: [FieldName: Value] = [:]
        if let current = dev.view(key) {
            if rng.chance(0.1) {
                m = dev.writer.delete(base: base, key: key)
            } else {
                var changes: [FieldName: FieldChange] = [:]
                if rng.chance(0.5) { values["title"] = .string(Self.titles.randomElement(using: &rng)!) }
                if rng.chance(0.3) { values["tags"] = .set(Self.tagPool.filter { _ in rng.chance(0.4) }) }
                if values.isEmpty || rng.chance(0.5) {
                    var words = (current["body"]?.textValue ?? "").split(separator: " ").map(String.init)
                    let at = Int.random(in: 0...words.count, using: &rng)
                    if !words.isEmpty, rng.chance(0.4) { words.remove(at: min(at, words.count - 1)) }
                    words.insert(Self.words.randomElement(using: &rng)!, at: min(at, words.count))
                    let text = words.joined(separator: " ")
                    values["body"] = .text(text)
                    // A long body goes as a diff against the confirmed text, as clients send it.
                    let confirmedText = dev.confirmed[key]?.values?["body"]?.textValue
                    changes["body"] = base > 0 && confirmedText != nil ? .text(from: confirmedText, to: text) : .set(.text(text))
                }
                if let title = values["title"] { changes["title"] = .set(title) }
                if let tags = values["tags"] { changes["tags"] = .set(from: current["tags"], to: tags) }
                m = dev.writer.next(.patch, base: base, changes, key: key)
            }
        } else {
            values = ["title": .string(Self.titles.randomElement(using: &rng)!), "body": .text(Self.words.shuffled(using: &rng).joined(separator: " "))]
            m = dev.writer.next(.create, base: base, values.mapValues { .set($0) }, key: key)
        }
        dev.pending.append((m, values))
        devices[d] = dev
    }

    /// Pushes the device's pending mutations through the frame codec. Unless `reliable`, the
    /// request may be delivered twice, and the response may be lost (the device then retries).
    mutating func push(_ d: Int, reliable: Bool = false) throws {
        guard !devices[d].pending.isEmpty else { return }
        let batch = Array(devices[d].pending.prefix(Int.random(in: 1...4, using: &rng)))
        let request = try roundTrip(.pushRequest(PushRequest(mutations: batch.map(\.mutation))))
        guard case .pushRequest(let push) = request else { throw SimulationError.wrongMessage }
        let deliveries = !reliable && rng.chance(0.2) ? 2 : 1
        var results: [MutationResult] = []
        for delivery in 0..<deliveries {
            results = []
            for (m, values) in zip(push.mutations, batch.map(\.values)) {
                if arrived.contains(m.id) {
                    duplicatesDelivered += 1
                    results.append(log.push(m))
                    continue
                }
                arrived.insert(m.id)
                firstArrivals.append(m)
                let before = log.records[m.key]
                let result = log.push(m)
                checkEffect(m, wrote: values, before: before, after: log.records[m.key], result: result)
                results.append(result)
            }
            _ = delivery
        }
        for r in results { self.results[r.mutation] = r }
        if !reliable && rng.chance(0.25) { return }  // response lost: the device will push these again
        devices[d].pending.removeFirst(results.count)
    }

    mutating func pull(_ d: Int) throws {
        var dev = devices[d]
        while true {
            let page = log.pull(space: "mission", after: dev.cursor, limit: Int.random(in: 1...5, using: &rng))
            let head = page.changes.last?.version ?? dev.cursor
            let message = try roundTrip(.pullResponse(PullResponse(space: "mission", changes: page.changes, cursor: head, hasMore: page.hasMore, head: log.head)))
            guard case .pullResponse(let response) = message else { throw SimulationError.wrongMessage }
            for change in response.changes {
                let old = dev.confirmed[change.key]
                if let old { guard old.version == change.previousVersion else { throw SimulationError.gap(change.key) } }
                dev.confirmed[change.key] = (change.version, try change.apply(to: old?.values))
            }
            dev.cursor = response.cursor
            if !response.hasMore { break }
        }
        devices[d] = dev
    }

    func roundTrip(_ message: Message) throws -> Message {
        try Frame.decode(Frame.encode(message), maxPayloadBytes: 1 << 20)
    }

    /// Checks one first arrival of `m` against the record before and after it: each value it
    /// wrote is now in the record, or combined by a merge, or kept in a conflict record it made;
    /// each value it replaced without having seen it is kept in a conflict record; a delete or
    /// an edit that lost against the other is recorded too.
    mutating func checkEffect(_ m: Mutation, wrote values: [FieldName: Value], before: RecordState?, after: RecordState?, result: MutationResult) {
        guard result.status != .rejected else {
            if before != after { problems.append("\(m.id) was rejected but changed the record") }
            return
        }
        let conflicts = result.conflicts.compactMap {
            log.records[RecordKey(space: m.key.space, collection: .conflicts, record: $0)]?.values
        }
        func kept(_ field: FieldName?, _ value: Value) -> Bool {
            conflicts.contains { $0["field"] == field.map { .string($0.rawValue) } && $0["kept"] == value }
        }
        if m.operation == .delete {
            if after?.deleted != true && !kept(nil, .null) { problems.append("\(m.id) delete neither applied nor kept") }
            return
        }
        guard let after else { return problems.append("\(m.id) left no record") }
        if before?.deleted == true, let stamp = before?.deletedStamp, !Merge.hasSeenDeletion(before!, m), !conflicts.contains(where: { $0["kind"] == .string("edit_revived") }) {
            problems.append("\(m.id) revived a record deleted by \(stamp) without recording it")
        }
        for (field, change) in m.changes {
            let now = after.fields[field]
            if case .setDelta = change { continue }  // deltas always apply; checked by the merge tests
            guard let v = values[field] else { continue }
            let combined = now?.merged == true && now?.version == after.version
            if now?.value != v && !combined && !kept(field, v) {
                problems.append("\(m.id) wrote \(m.key).\(field) but it is neither there, merged, nor kept in a conflict")
            }
            if let old = before?.fields[field], before?.deleted == false, !Merge.hasSeen(old, m), old.value != now?.value, !combined, !kept(field, old.value) {
                problems.append("\(m.id) overwrote \(m.key).\(field) by \(old.stamp) without having seen it and without keeping it")
            }
        }
    }
}

enum SimulationError: Error {
    case wrongMessage
    case gap(RecordKey)
}
