import SatchelClient
import SatchelProtocol
import SatchelTesting

/// The random workload: devices create, edit and delete notes (and resolve conflicts by deleting
/// their records), sync, get cut off and reconnected, crash, while time passes, the server
/// compacts, builds snapshot pages, crashes, and operators update the briefing and ask devices
/// to pull again.
extension Simulation {
    static let titles = [
        "Z-Park visit", "Suzhou SIP", "Shenzhen robotics", "Chengdu CDHT", "Wuhan optics valley",
        "MoST meeting", "Hefei batteries", "苏州 follow-up", "Zürich partners",
    ]
    /// Words for bodies: ASCII, punctuation, accented letters in composed (NFC) and decomposed
    /// (NFD) form, CJK and an emoji, since text diffs count Unicode scalars.
    static let words = [
        "cluster", "park", "visit", "robotics", "battery", "agreed", "follow", "up", "with", "partner",
        "EU", "China", "office.", "(SIP)", "12:30", "next", "steps", "delegation", "café",
        "苏州", "深圳", "📍", "naïve", "Zürich", "meeting,", "the", "and",
    ]
    /// Words written decomposed (NFD): canonically equal to "café" and "Zürich" above.
    static let decomposedWords = ["cafe\u{301}", "Zu\u{308}rich"]
    static let tagPool = ["ict", "ev", "ai", "health", "beijing", "shanghai", "follow-up", "visited"]

    mutating func runWorkload() async {
        let steps = rng.int(configuration.steps)
        report.steps = steps
        for _ in 0..<steps {
            await advance(by: rng.millis(0...150))
            let d = rng.int(0...devices.count - 1)
            switch rng.int(0...99) {
            case 0..<45: write(d)
            case 45..<76: await startSync(d)
            case 76..<82: togglePartition(d)
            case 82..<90: await advance(by: rng.millis(500...5_000))
            case 90..<93: await compact()
            case 93..<95: await buildSnapshots()
            case 95: await requestRebootstrap(d)
            case 96: await updateBriefing()
            default: for d in devices.indices { await startSync(d) }
            }
            if configuration.crashes && rng.chance(profile.deviceCrash / 4), devices[d].session != nil {
                // A crash between steps: whatever the session held in memory is gone.
                report.deviceCrashes += 1
                trace("dev-\(d) crashes while syncing")
                devices[d].session = nil
                devices[d].waiting = nil
            }
            if configuration.crashes && rng.chance(profile.serverCrash / 4) { await restartServer(pickServer(), "between requests") }
            if configuration.adversity && rng.chance(0.05) { await adversity(rng.int(0...devices.count - 1)) }
        }
    }

    /// Something an unlucky user or a hostile co-member does to device `d`.
    mutating func adversity(_ d: Int) async {
        switch rng.int(0...3) {
        case 0 where !devices[d].restored && devices[d].backup == nil:
            devices[d].backup = devices[d].replica
            devices[d].acknowledgedSinceBackup = false
            trace("dev-\(d)'s store is backed up")
        case 1:
            restore(d)
        case 2:
            devices[d].wrongDateMillis = devices[d].wrongDateMillis == 0 ? 365 * 86_400_000 : 0
            if devices[d].wrongDateMillis > 0 { report.wrongDates += 1 }
            let fixed = devices[d].wrongDateMillis == 0
            trace("dev-\(d)'s date is \(fixed ? "fixed" : "set a year ahead")")
        default:
            await replayIDs(d)
        }
    }

    /// Puts device `d`'s store back to its backup, as a restore from backup does: writes made
    /// since are gone from the device (only those the server acknowledged must survive).
    mutating func restore(_ d: Int) {
        // Only a restore that loses acknowledged writes tests anything: wait for one.
        guard let backup = devices[d].backup, devices[d].isIdle, devices[d].acknowledgedSinceBackup else { return }
        // A restored machine has no request in flight.
        guard !queue.contains(where: { if case .deliver(let e) = $0 { e.device == d } else { false } }) else { return }
        devices[d].replica.restore(from: backup)
        // Once per device: a second restore is what a copied device looks like (`.copied`).
        devices[d].backup = nil
        devices[d].restored = true
        let kept = Set(backup.pendingEntries(limit: .max).map(\.mutation.id))
        let answers = devices[d].answers
        devices[d].written.removeAll { answers[$0] == nil && !kept.contains($0) }
        devices[d].latestClock = backup.deviceState().clock
        report.restores += 1
        trace("dev-\(d)'s store is restored from its backup")
    }

    /// Device `d`, as a hostile co-member, pushes notes of its own under ids another device's
    /// writes used: each must be refused (`mutation_id_taken`) and change nothing.
    mutating func replayIDs(_ d: Int) async {
        let theirs = acknowledged.filter { $0.value.device != d }.keys.sorted().suffix(20)
        guard !theirs.isEmpty else { return }
        let head = (try? store.head(of: Self.space).head) ?? 0
        let forged = theirs.map { id in
            Mutation(id: id, device: devices[d].id, counter: 1 << 40, clock: HLC(millis: now, counter: 0),
                     key: RecordKey(space: Self.space, collection: .notes, record: RecordID.random(using: &rng)), baseVersion: 0,
                     operation: .create, changes: ["title": .set(.string("forged"))])
        }
        let answer = await servers[pickServer()].endpoints.answer(.push, authorization: "Bearer \(devices[d].token)", body: Frame.encode(.pushRequest(PushRequest(mutations: forged))))
        guard case .pushResponse(let response)? = try? HTTPTransport.reply(status: answer.status, body: answer.frame, server: "sim") else {
            return problem("server", "a replayed push got no push answer (HTTP \(answer.status))")
        }
        for result in response.results where result.rejection?.code != .mutationIDTaken {
            problem("exactly-once", "dev-\(d) replayed another device's id \(result.mutation) and was answered \(result.status.rawValue) \(result.rejection.map { "\($0)" } ?? "")")
        }
        let after = (try? store.head(of: Self.space).head) ?? 0
        if after != head { problem("exactly-once", "replayed ids changed the log (head \(head) → \(after))") }
        report.replayedIDsRefused += response.results.count
        trace("dev-\(d) replays \(forged.count) ids of other devices")
        await checkAcknowledged()
    }

    /// One local write on device `d`, chosen among what it can see.
    mutating func write(_ d: Int) {
        let visible = devices[d].replica.visibleRecords
        let notes = visible.keys.filter { $0.collection == .notes }.sorted()
        let conflicts = visible.keys.filter { $0.collection == .conflicts }.sorted()
        let roll = rng.int(0...99)
        if !conflicts.isEmpty && roll < 8 {
            perform(d, .delete, rng.pick(conflicts), values: [:])
            return
        }
        if notes.isEmpty || roll < 35 {
            return create(d, visible: visible)
        }
        let key = rng.pick(notes)
        if roll < 45 {
            perform(d, .delete, key, values: [:])
            return
        }
        patch(d, key, current: visible[key]!)
    }

    mutating func create(_ d: Int, visible: [RecordKey: [FieldName: Value]]) {
        let key: RecordKey
        var shared = false
        if configuration.sharedNotes > 0 && rng.chance(0.4) {
            key = RecordKey(space: Self.space, collection: .notes, record: RecordID(unchecked: "note-\(rng.int(0...configuration.sharedNotes - 1))"))
            if let current = visible[key] { return patch(d, key, current: current) }
            shared = true
        } else {
            key = RecordKey(space: Self.space, collection: .notes, record: RecordID.random(using: &rng))
        }
        var values: [FieldName: Value] = ["title": .string(rng.pick(Self.titles))]
        // Now and then a long report (several pushes' worth of bytes go in fewer mutations), and
        // rarely one too long for any push: it must be set aside with the reason, not block the rest.
        let oversized = rng.chance(0.004)
        if oversized {
            values["body"] = .text(randomText(words: 7_000))
        } else if rng.chance(0.03) {
            values["body"] = .text(randomText(words: rng.int(600...1_500)))
        } else if rng.chance(0.85) {
            values["body"] = .text(randomText(words: rng.int(3...30)))
        }
        if rng.chance(0.6) { values["tags"] = .set((0..<rng.int(1...3)).map { _ in rng.pick(Self.tagPool) }) }
        if shared { report.sharedCreates += 1 }
        if oversized { report.oversizedWrites += 1 }
        // The oversized one was queued before the device knew the server's limits; every other
        // write is checked against them, as `SatchelClient` checks its writes.
        if let id = perform(d, .create, key, values: values, checked: !oversized), oversized { self.oversized.insert(id) }
    }

    /// Edits a note as a user would: a new title, a tag added or removed, a few words of the body.
    mutating func patch(_ d: Int, _ key: RecordKey, current: [FieldName: Value]) {
        var values: [FieldName: Value] = [:]
        if rng.chance(0.3) { values["title"] = .string(rng.pick(Self.titles)) }
        if rng.chance(0.3) {
            var tags: [String] = []
            if case .stringSet(let t)? = current["tags"] { tags = t }
            if !tags.isEmpty && rng.chance(0.5) {
                tags.remove(at: rng.int(0...tags.count - 1))
            } else {
                tags.append(rng.pick(Self.tagPool))
            }
            values["tags"] = .set(tags)
        }
        if values.isEmpty || rng.chance(0.6) {
            values["body"] = .text(edit(current["body"]?.textValue))
        }
        perform(d, .patch, key, values: values)
    }

    static func describe(_ values: [FieldName: Value]?) -> String {
        guard let values else { return "nothing" }
        let fields = values.keys.sorted().map { name -> String in
            let text: String
            switch values[name]! {
            case .string(let s), .text(let s): text = s.count > 48 ? "\"\(s.prefix(45))…\" (\(s.unicodeScalars.count) scalars)" : "\"\(s)\""
            case .stringSet(let s): text = "{\(s.joined(separator: ","))}"
            case let other: text = "\(other)"
            }
            return "\(name)=\(text)"
        }
        return "{" + fields.joined(separator: " ") + "}"
    }

    /// Writes through the client algorithm and checks the device sees its own write at once.
    @discardableResult
    mutating func perform(_ d: Int, _ operation: Mutation.Operation, _ key: RecordKey, values: [FieldName: Value], checked: Bool = true) -> MutationID? {
        let m: Mutation
        do {
            m = try devices[d].replica.write(
                operation, key, values: values, physicalMillis: deviceTime(d), maxBytes: checked ? Self.limits.maxPushMutationBytes : .max)
        } catch let refused as Rejection where refused.code == .tooLong {
            // Refused at once, before it is queued: the person is told and keeps the text.
            report.refusedAtWrite += 1
            trace("dev-\(d)'s \(operation.rawValue) of \(key) is refused as too long: \(refused.message)")
            return nil
        } catch {
            problem("write", "dev-\(d) could not \(operation.rawValue) \(key): \(error)")
            return nil
        }
        report.writes += 1
        switch operation {
        case .create: report.creates += 1
        case .patch: report.patches += 1
        case .delete: if key.collection == .conflicts { report.conflictDeletes += 1 } else { report.deletes += 1 }
        }
        devices[d].written.append(m.id)
        if m.clock <= devices[d].latestClock {
            problem("clock", "dev-\(d) wrote \(m.id) at \(m.clock), not after the \(devices[d].latestClock) it had already seen or written")
        }
        devices[d].latestClock = m.clock
        trace("dev-\(d) writes \(m.id): \(operation.rawValue) \(key.collection)/\(key.record) base \(m.baseVersion) clock \(m.clock) \(Self.describe(values)) as [\(m.changes.keys.sorted().map { "\($0):\(Self.kind(m.changes[$0]!))" }.joined(separator: " "))]")

        // Local-first: the view shows the write immediately.
        let view = devices[d].replica.record(key)?.view
        switch operation {
        case .delete:
            if view != nil { problem("read-your-writes", "dev-\(d) deleted \(key) (\(m.id)) but still sees \(Self.describe(view))") }
        case .create:
            if view != values { problem("read-your-writes", "dev-\(d) created \(key) (\(m.id)) with \(Self.describe(values)) but sees \(Self.describe(view))") }
        case .patch:
            for name in values.keys.sorted() where view?[name] != values[name] {
                let value = values[name]!
                problem("read-your-writes", "dev-\(d) set \(key).\(name) (\(m.id)) to \(Self.describe([name: value])) but sees \(Self.describe(view))")
            }
        }
        return m.id
    }

    static func kind(_ change: FieldChange) -> String {
        switch change {
        case .set: "set"
        case .textDiff: "diff"
        case .setDelta: "delta"
        }
    }

    /// A random word; decomposed forms become composed when `decomposedText` is off.
    mutating func word() -> String {
        let i = rng.int(0...Self.words.count + Self.decomposedWords.count - 1)
        if i < Self.words.count { return Self.words[i] }
        return configuration.decomposedText ? Self.decomposedWords[i - Self.words.count] : ["café", "Zürich"][i - Self.words.count]
    }

    mutating func randomText(words count: Int) -> String {
        (0..<count).map { _ in word() }.joined(separator: " ")
    }

    /// A few words replaced, inserted or removed.
    mutating func edit(_ text: String?) -> String {
        guard let text, !text.isEmpty else { return randomText(words: rng.int(3...20)) }
        var words = text.split(separator: " ").map(String.init)
        for _ in 0..<rng.int(1...3) {
            let i = rng.int(0...max(0, words.count - 1))
            switch rng.int(0...2) {
            case 0 where !words.isEmpty: words[i] = word()
            case 1 where words.count > 1: words.remove(at: i)
            default: words.insert(word(), at: rng.int(0...words.count))
            }
        }
        return words.joined(separator: " ")
    }

    mutating func togglePartition(_ d: Int) {
        guard faultsActive else { return }
        if devices[d].isPartitioned(at: now) {
            devices[d].partitionedUntil = .min
            trace("dev-\(d) reconnects")
        } else {
            let until = now + rng.millis(500...8_000)
            devices[d].partitionedUntil = until
            report.partitions += 1
            trace("dev-\(d) is cut off until \(until - Self.epoch)")
        }
    }

}
