import SatchelClient
import SatchelProtocol

/// A deterministic simulation of Satchel sync: N devices running the real client algorithm
/// (`Replica` over `MemoryReplicaStorage`) and the server core (`ChangeLog`), talking in frames
/// over a simulated network that drops, delays (so reorders), duplicates and partitions, all
/// driven by one discrete-event loop and one seed. After a random workload the network heals,
/// every device syncs until nothing moves, and the checks compare everyone with the server.
///
/// ```swift
/// let report = Simulation.verify(seed: 42)   // runs twice: the second run checks determinism
/// print(report)                               // counters and problems; replay with the same seed
/// ```
public struct Simulation: Sendable {
    /// The one space every device writes to.
    static let space: SpaceID = "mission"
    /// Simulated time starts here (2026-01-01T00:00:00Z), in milliseconds.
    static let epoch: Int64 = 1_767_225_600_000

    /// The per-seed fault rates.
    struct FaultProfile: Sendable {
        var dropRequest = 0.0
        var dropResponse = 0.0
        var duplicate = 0.0
        var delay = 0.0
    }

    let configuration: SimulationConfiguration
    var rng: SeededGenerator
    var report: SimulationReport
    var server = SimulatedServer()
    var devices: [SimulatedDevice] = []
    var queue = EventQueue()
    var now: Int64 = Simulation.epoch
    /// Drops, long delays and partitions happen only while this is on (off once healing starts).
    var faultsActive: Bool
    var profile = FaultProfile()
    var digest = Digest()
    var sendOrder = 0
    var lastDeliveredToServer = -1
    var lastDeliveredToDevice: [Int] = []

    init(seed: UInt64, configuration: SimulationConfiguration) {
        self.configuration = configuration
        self.rng = SeededGenerator(seed: seed)
        self.report = SimulationReport(seed: seed)
        self.faultsActive = configuration.faults
        let count = rng.int(configuration.deviceCount)
        let skew = rng.chance(0.2) ? max(0, configuration.maxClockSkewMillis) : min(2_000, max(0, configuration.maxClockSkewMillis))
        devices = (0..<count).map { SimulatedDevice(index: $0, skewMillis: rng.millis(-skew...skew)) }
        lastDeliveredToDevice = Array(repeating: -1, count: count)
        if configuration.faults {
            profile.dropRequest = Double.random(in: 0...configuration.maxDropChance, using: &rng)
            profile.dropResponse = Double.random(in: 0...configuration.maxDropChance, using: &rng)
            profile.duplicate = Double.random(in: 0...configuration.maxDuplicateChance, using: &rng)
            profile.delay = Double.random(in: 0...configuration.maxDelayChance, using: &rng)
        }
        report.devices = count
    }

    /// Runs one seed: workload, heal, checks. Never traps on a wrong outcome: problems are reported.
    public static func run(seed: UInt64, configuration: SimulationConfiguration = .default) -> SimulationReport {
        var sim = Simulation(seed: seed, configuration: configuration)
        sim.runWorkload()
        sim.heal()
        sim.check()
        return sim.finish()
    }

    /// Runs one seed twice and adds a `determinism` problem if the two reports differ.
    public static func verify(seed: UInt64, configuration: SimulationConfiguration = .default) -> SimulationReport {
        var first = run(seed: seed, configuration: configuration)
        let second = run(seed: seed, configuration: configuration)
        if first != second {
            var what: [String] = []
            if first.digest != second.digest { what.append("digest \(String(first.digest, radix: 16)) vs \(String(second.digest, radix: 16))") }
            if first.problems != second.problems { what.append("problems differ (\(first.problems.count) vs \(second.problems.count))") }
            if first.description != second.description { what.append("counters differ:\n\(first.description)\nvs\n\(second.description)") }
            first.problems.append(SimulationProblem(kind: "determinism", "two runs of seed \(seed) differ: \(what.joined(separator: "; "))"))
        }
        return first
    }

    mutating func finish() -> SimulationReport {
        report.serverHead = server.log.head
        report.elapsedMillis = now - Self.epoch
        report.conflictRecords = server.log.records.keys.filter { $0.collection == .conflicts }.count
        digest.mix(report.serverHead)
        report.digest = digest.value
        return report
    }

    // MARK: Bookkeeping

    /// Records a problem; after 40 only the count grows (a broken run can find thousands).
    mutating func problem(_ kind: String, _ message: String) {
        trace("PROBLEM [\(kind)] \(message)")
        if report.problems.count < 40 {
            report.problems.append(SimulationProblem(kind: kind, message))
        } else {
            report.moreProblems += 1
        }
    }

    func deviceTime(_ d: Int) -> Int64 { now + devices[d].skewMillis + devices[d].wrongDateMillis }

    mutating func trace(_ line: @autoclosure () -> String) {
        guard configuration.trace else { return }
        report.trace.append("\(now - Self.epoch) \(line())")
    }

    // MARK: The event loop

    /// Processes every event due up to `now + millis`, then sets the clock there.
    mutating func advance(by millis: Int64) {
        let target = now + millis
        while let (time, event) = queue.pop(notAfter: target) {
            now = max(now, time)
            process(event)
        }
        now = target
    }

    /// Processes events until none remain (bounded: a run that never settles is a problem).
    mutating func drain() {
        var budget = 200_000
        while let (time, event) = queue.pop(notAfter: .max) {
            now = max(now, time)
            process(event)
            budget -= 1
            if budget == 0 { return problem("convergence", "the event queue did not drain after 200,000 events") }
        }
    }

    /// Processes events until device `d` is idle again; false (and a problem) if it never is.
    mutating func runUntilIdle(_ d: Int) -> Bool {
        var budget = 20_000
        while !devices[d].isIdle, let (time, event) = queue.pop(notAfter: .max) {
            now = max(now, time)
            process(event)
            budget -= 1
            if budget == 0 {
                problem("convergence", "dev-\(d) did not finish a sync within 20,000 events on a healed network")
                return false
            }
        }
        return true
    }

    mutating func process(_ event: SimulationEvent) {
        switch event {
        case .deliver(let envelope):
            deliver(envelope)
        case .timeout(let d, let exchange):
            switch devices[d].phase {
            case .pushing(exchange), .pulling(exchange):
                devices[d].phase = .idle
                devices[d].failedSinceReset += 1
                report.timeouts += 1
                trace("dev-\(d) gives up on exchange \(exchange)")
            default:
                break
            }
        }
    }

    // MARK: The network

    /// Encodes `message` and puts it on the wire, where it may be lost, held back or doubled.
    mutating func send(_ message: Message, device d: Int, exchange: Int, toServer: Bool) {
        let compression: Frame.Compression = rng.chance(configuration.compressionChance) ? .default : .none
        let bytes = Frame.encode(message, compression: compression)
        report.messagesSent += 1
        digest.mix(now)
        digest.mix(bytes)
        let order = sendOrder
        sendOrder += 1
        let direction = toServer ? "dev-\(d) → server" : "server → dev-\(d)"
        if devices[d].isPartitioned(at: now) {
            report.partitionDrops += 1
            trace("\(direction) #\(exchange) lost (partitioned)")
            return
        }
        if faultsActive && rng.chance(toServer ? profile.dropRequest : profile.dropResponse) {
            report.dropped += 1
            trace("\(direction) #\(exchange) dropped")
            return
        }
        var copies = 1
        if rng.chance(profile.duplicate) {
            copies = 2
            report.duplicated += 1
        }
        for copy in 0..<copies {
            var latency = rng.millis(1...30)
            if faultsActive && rng.chance(profile.delay) {
                latency += rng.millis(100...3_000)
                report.delayed += 1
            }
            trace("\(direction) #\(exchange)\(copy > 0 ? " (duplicate)" : "") arrives in \(latency) ms")
            let envelope = Envelope(device: d, exchange: exchange, toServer: toServer, sendOrder: order, bytes: bytes, original: message)
            queue.schedule(.deliver(envelope), at: now + latency)
        }
    }

    mutating func deliver(_ envelope: Envelope) {
        let d = envelope.device
        if devices[d].isPartitioned(at: now) {
            report.partitionDrops += 1
            trace("\(envelope.toServer ? "dev-\(d) → server" : "server → dev-\(d)") #\(envelope.exchange) lost in flight (partitioned)")
            return
        }
        if envelope.toServer {
            if envelope.sendOrder < lastDeliveredToServer { report.reordered += 1 }
            lastDeliveredToServer = max(lastDeliveredToServer, envelope.sendOrder)
        } else {
            if envelope.sendOrder < lastDeliveredToDevice[d] { report.reordered += 1 }
            lastDeliveredToDevice[d] = max(lastDeliveredToDevice[d], envelope.sendOrder)
        }
        let message: Message
        do {
            message = try Frame.decode(envelope.bytes, maxPayloadBytes: server.limits.maxPayloadBytes)
        } catch {
            return problem("codec", "a \(envelope.original.type) frame of \(envelope.bytes.count) bytes did not decode: \(error)")
        }
        if message != envelope.original {
            problem("codec", "a \(envelope.original.type) frame decoded to another message than was encoded")
        }
        if envelope.toServer {
            let answer = server.handle(message, from: devices[d].id, physicalMillis: now)
            trace("server answers dev-\(d) #\(envelope.exchange): \(Self.summary(answer))")
            send(answer, device: d, exchange: envelope.exchange, toServer: false)
        } else {
            receive(message, device: d, exchange: envelope.exchange)
        }
    }

    static func summary(_ message: Message) -> String {
        switch message {
        case .pushResponse(let r):
            return "results " + r.results.map { r in
                let extra = r.rejection.map { " \($0.code)" } ?? (r.conflicts.isEmpty ? "" : " +\(r.conflicts.count) conflicts")
                return "\(r.mutation)=\(r.status.rawValue) v\(r.version)\(extra)"
            }.joined(separator: ", ") + " clock \(r.clock)"
        case .pullResponse(let p):
            let changes = p.changes.map { c in
                "v\(c.version)(prev \(c.previousVersion)) \(c.key.collection)/\(c.key.record) \(c.kind.rawValue) [\(c.fields.keys.sorted().map(\.rawValue).joined(separator: ","))] by \(c.mutation?.rawValue ?? "-")"
            }
            return "page [\(changes.joined(separator: "; "))] cursor \(p.cursor) hasMore \(p.hasMore) head \(p.head)"
        case .error(let e):
            return "error \(e.code)"
        default:
            return "message type \(message.type)"
        }
    }
}
