import SatchelClient
import SatchelProtocol
import SatchelServerCore
import SatchelTesting

/// The server side: provisioning through the real enrollment, requests served by the real
/// endpoints of whichever server a request reaches, and what operators and failures do to them
/// (compaction, the snapshot builder, re-bootstrap requests, briefing updates, crashes of one
/// server while the others serve on).
extension Simulation {
    /// The mission space (each device's user a writer) and the briefing (everyone reads), then
    /// every device enrolled with a one-time code, as `satchel join` does.
    mutating func provision() async {
        do {
            try store.createSpace(Self.space, now: now)
            try store.createSpace(Self.briefing, now: now)
            try store.setEveryoneReads(Self.briefing, true)
            for d in devices.indices {
                let user = UserID(unchecked: "user-\(d)")
                try store.createUser(user, now: now)
                try store.setRole(.writer, user: user, space: Self.space)
                let code = "SIM-\(d)-\(rng.int(1000...9999))"
                try store.createEnrollment(codeHash: Credentials.hash(code: code), user: user, label: nil, expiresAt: now + 3_600_000, now: now)
                let (info, token) = try await servers[pickServer()].endpoints.service.enroll(code: code, label: "dev-\(d)", client: "satchel-sim", using: &rng)
                devices[d].id = info.id
                devices[d].token = token
                devices[d].replica = MemoryReplicaStorage(device: info.id)
            }
        } catch {
            problem("server", "provisioning failed: \(error)")
        }
    }

    /// A request reaches one of the servers, at random: a device's hello, pushes and pulls, and
    /// a retry of a push whose answer was lost, may each reach a different one. The server may
    /// crash on it, before or after applying it: either way the answer is lost, and what any
    /// server acknowledged before must still be there after.
    mutating func serve(_ envelope: Envelope) async {
        let d = envelope.device
        let s = pickServer()
        let crash = faultsActive && rng.chance(profile.serverCrash)
        let crashFirst = crash && rng.chance(0.5)
        if crashFirst { return await restartServer(s, "before answering dev-\(d)'s \(envelope.route.rawValue)") }
        report.requestsPerServer[s, default: 0] += 1
        let answer = await servers[s].endpoints.answer(envelope.route, authorization: "Bearer \(devices[d].token)", features: envelope.features, body: envelope.bytes)
        await checkAcknowledged()
        if crash { return await restartServer(s, "after applying dev-\(d)'s \(envelope.route.rawValue), before answering") }
        let server = name(s)
        trace("\(server) answers dev-\(d) #\(envelope.exchange): HTTP \(answer.status) \(Self.summary(answer.frame))")
        let features = answer.status == 200 ? SyncEndpoints.featureList : []
        transmit(Envelope(device: d, session: envelope.session, exchange: envelope.exchange, toServer: false, route: envelope.route,
                          bytes: answer.frame, status: answer.status, features: features))
    }

    /// Server `s`'s process dies and starts again over its store object: its clock, snapshot
    /// cache and live hub start empty; the other servers never stop. Nothing a push
    /// acknowledged may be lost.
    mutating func restartServer(_ s: Int, _ when: String) async {
        report.serverCrashes += 1
        let server = name(s)
        trace("\(server) crashes \(when) and restarts")
        servers[s].restart(snapshotPageSize: rng.int(2...6), clock: clock)
        await checkAcknowledged()
    }

    /// How the trace names server `s`: "server" when there is one, as before there were more.
    func name(_ s: Int) -> String { Self.name(s, of: servers.count) }
    static func name(_ s: Int, of count: Int) -> String { count == 1 ? "server" : "server-\(s)" }

    /// The per-step checker: every write a device was told is stored keeps its answer (nothing
    /// acknowledged lost, nothing applied twice), and its record is still there (merged into,
    /// or conflicting, later writes do not remove it; only a delete compacted away does).
    mutating func checkAcknowledged() async {
        guard !acknowledged.isEmpty else { return }
        let ids = acknowledged.keys.sorted()
        let stored = store.storedResults(ids)
        for (id, found) in zip(ids, stored) {
            let told = acknowledged[id]!
            guard let found else {
                problem("lost", "dev-\(told.device) was told \(id) was \(told.result.status.rawValue) at v\(told.result.version); the server no longer holds it")
                continue
            }
            if found.result != told.result || found.device != devices[told.device].id {
                problem("exactly-once", "dev-\(told.device) was told \(id) was \(told.result.status.rawValue) at v\(told.result.version); the server now says \(found.result.status.rawValue) at v\(found.result.version)")
            }
        }
        for (id, told) in acknowledged.sorted(by: { $0.key < $1.key }) where told.result.version > 0 && (told.result.status == .applied || told.result.status == .merged) {
            let record = try? store.record(told.key)
            let horizon = (try? store.head(of: told.key.space).horizon) ?? 0
            if record == nil && horizon < told.result.version {
                problem("lost", "dev-\(told.device)'s \(id) wrote \(told.key) at v\(told.result.version), and the record is gone though nothing was compacted past it")
            } else if let record, record.version < told.result.version {
                problem("lost", "\(told.key) is at v\(record.version), older than dev-\(told.device)'s acknowledged \(id) at v\(told.result.version)")
            }
        }
    }

    /// The operator compacts the mission space: changes older than a random age go (through the
    /// admin service, as `satchel-server compact` does), and older cursors get `cursor_expired`.
    mutating func compact() async {
        guard configuration.compaction else { return }
        let admin = AdminService(store: store, now: clock.read)
        do {
            let reports = try await admin.compact(space: Self.space, olderThan: rng.millis(0...3_000), dryRun: false)
            report.compactions += 1
            lastCompaction = now
            trace("server compacts: horizon \(reports.map { "\($0.previousHorizon) → \($0.horizon)" }.joined(separator: ", "))")
        } catch {
            problem("server", "compaction failed: \(error)")
        }
        await checkAcknowledged()
    }

    /// The snapshot builder of one server runs (a server runs its own once writes pause).
    mutating func buildSnapshots() async {
        let server = servers[pickServer()]
        do {
            let snapshots = server.endpoints.service.snapshots
            try await snapshots.extend(Self.space, store: server.store)
            report.snapshotBuilds += 1
            let cached = snapshots.cachedRecords(Self.space)
            trace("the snapshot cache holds \(cached) records of \(Self.space)")
        } catch {
            problem("server", "building snapshots failed: \(error)")
        }
    }

    /// The operator asks device `d` to pull a space again from scratch.
    mutating func requestRebootstrap(_ d: Int) async {
        let admin = AdminService(store: store, now: clock.read)
        do {
            _ = try await admin.rebootstrap(devices[d].id, space: Self.space)
            report.operatorResets += 1
            trace("the operator asks dev-\(d) to pull \(Self.space) again")
        } catch {
            problem("server", "a re-bootstrap request failed: \(error)")
        }
    }

    /// The operator updates the briefing (reference data, written as `briefing load` writes it).
    mutating func updateBriefing() async {
        briefingWrites += 1
        let key = RecordKey(space: Self.briefing, collection: .entries, record: RecordID(unchecked: "entry-\(rng.int(0...5))"))
        let current = try? store.record(key)
        let m = Mutation(
            id: .random(using: &rng), device: DeviceID(unchecked: "operator"), counter: UInt64(briefingWrites), clock: HLC(millis: now, counter: 0),
            key: key, baseVersion: current?.version ?? 0, operation: current.map { $0.deleted } == false ? .patch : .create,
            changes: ["kind": .set(.string("cluster")), "name": .set(.string(rng.pick(Self.titles)))])
        do {
            let results = try store.operatorWrite([m])
            report.briefingUpdates += 1
            trace("the operator writes \(key.record) of the briefing: \(results.map(\.status.rawValue))")
        } catch {
            problem("server", "a briefing update failed: \(error)")
        }
    }

    static func summary(_ frame: [UInt8]) -> String {
        guard let message = try? Frame.decode(frame, maxPayloadBytes: .max) else { return "(not a frame)" }
        switch message {
        case .helloResponse(let h):
            return "hello: spaces \(h.spaces.map { "\($0.space) head \($0.head) horizon \($0.horizon)" }.joined(separator: ", "))\(h.deviceState.map { "; holds counter \($0.counter)" } ?? "")"
        case .pushResponse(let r):
            return "results " + r.results.map { r in
                let extra = r.rejection.map { " \($0.code)" } ?? (r.conflicts.isEmpty ? "" : " +\(r.conflicts.count) conflicts")
                return "\(r.mutation)=\(r.status.rawValue) v\(r.version)\(extra)"
            }.joined(separator: ", ") + " clock \(r.clock)"
        case .pullResponse(let p):
            let changes = p.changes.map { c in
                "v\(c.version)(prev \(c.previousVersion)) \(c.key.collection)/\(c.key.record) \(c.kind.rawValue) [\(c.fields.keys.sorted().map(\.rawValue).joined(separator: ","))] by \(c.mutation?.rawValue ?? "-")"
            }
            return "page \(p.space) [\(changes.joined(separator: "; "))] cursor \(p.cursor) hasMore \(p.hasMore) head \(p.head)"
        case .error(let e):
            return "error \(e.code): \(e.message)"
        default:
            return "message type \(message.type)"
        }
    }
}
