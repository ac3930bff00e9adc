import Synchronization
import SatchelClient
import SatchelProtocol
import SatchelServerCore
import SatchelTesting

/// A deterministic simulation of Satchel sync running the code we ship: the server is two
/// server processes sharing one database, each `SyncService` over a `MemoryServerStore` object of
/// its own on the shared data, behind the same request handling as the HTTP routes
/// (`SyncEndpoints`); every request reaches one of them at random, as behind a load balancer.
/// Each device runs `SyncSession` (the state machine `SatchelClient.sync`
/// drives) over `MemoryReplicaStorage`, with answers read as `HTTPTransport` reads them. Between
/// them a simulated network drops, delays (so reorders), duplicates and partitions; devices and
/// the server crash at seeded moments. One discrete-event loop and one seed drive everything.
/// Checkers run at every server step (what was acknowledged stays stored, with the same answer),
/// and after a random workload the network heals, every device syncs until nothing moves, and
/// the final checks compare everyone with the server.
///
/// ```swift
/// let report = await Simulation.verify(seed: 42)   // runs twice: the second run checks determinism
/// print(report)                                     // counters and problems; replay with the same seed
/// ```
public struct Simulation: Sendable {
    /// The space every device writes to, and the reference space operators write (everyone reads).
    static let space: SpaceID = "mission"
    static let briefing: SpaceID = "briefing"
    /// Simulated time starts here (2026-01-01T00:00:00Z), in milliseconds.
    static let epoch: Int64 = 1_767_225_600_000

    /// The per-seed fault rates.
    struct FaultProfile: Sendable {
        var dropRequest = 0.0, dropResponse = 0.0, duplicate = 0.0, delay = 0.0
        var deviceCrash = 0.0, serverCrash = 0.0
    }

    let configuration: SimulationConfiguration
    var rng: SplitMix64
    var report: SimulationReport
    /// The simulated time as the server reads it (its store and service take a clock).
    let clock = SimulationClock(Simulation.epoch)
    /// The database as operators' commands and the checks see it: a store object of its own,
    /// beside the servers' (as `satchel-server compact --database` opens its own connection).
    let store: MemoryServerStore
    /// The server processes, each over its own store object on `store`'s data; one crashes and
    /// is rebuilt alone, the others serving on.
    var servers: [SimulatedServer] = []
    var devices: [SimulatedDevice] = []
    var queue = EventQueue()
    var now: Int64 = Simulation.epoch {
        didSet { clock.set(now) }
    }
    /// Drops, long delays, partitions and crashes happen only while this is on (off once healing starts).
    var faultsActive: Bool
    var profile = FaultProfile()
    var digest = Digest()
    var sendOrder = 0
    var lastDeliveredToServer = -1
    var lastDeliveredToDevice: [Int] = []
    /// Every answer a device accepted for a write it sent, not refused: the per-step checker's list.
    var acknowledged: [MutationID: Acknowledged] = [:]
    /// Writes made too long for any push: set aside with the reason, never sent.
    var oversized: Set<MutationID> = []
    /// When the server last compacted.
    var lastCompaction: Int64 = .min
    /// Operator writes to the briefing so far.
    var briefingWrites = 0

    struct Acknowledged: Sendable {
        var device: Int
        var key: RecordKey
        var result: MutationResult
    }

    init(seed: UInt64, configuration: SimulationConfiguration) {
        self.configuration = configuration
        self.rng = SplitMix64(seed: seed)
        self.report = SimulationReport(seed: seed)
        self.faultsActive = configuration.faults
        store = MemoryServerStore(clock: clock.read)
        servers = (0..<max(1, configuration.servers)).map { _ in
            SimulatedServer(store: MemoryServerStore(sharing: store), snapshotPageSize: 4, clock: clock)
        }
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
        if configuration.crashes {
            profile.deviceCrash = Double.random(in: 0...configuration.maxDeviceCrashChance, using: &rng)
            profile.serverCrash = Double.random(in: 0...configuration.maxServerCrashChance, using: &rng)
        }
        report.devices = count
    }

    /// Small request limits, so long notes fill a push with few mutations and pushes are cut by
    /// bytes, and one a little longer fits none.
    static let limits = Limits(maxRequestBytes: 32 << 10, maxPayloadBytes: 64 << 10)

    /// The server a request (or a server process's own work) goes to: one at random, seeded.
    /// With one server no number is drawn, so its runs are those of a single-server simulation.
    mutating func pickServer() -> Int {
        servers.count == 1 ? 0 : rng.int(0...(servers.count - 1))
    }

    /// Runs one seed: provisioning, workload, heal, checks. Never traps on a wrong outcome:
    /// problems are reported.
    public static func run(seed: UInt64, configuration: SimulationConfiguration = .default) async -> SimulationReport {
        var sim = Simulation(seed: seed, configuration: configuration)
        await sim.provision()
        await sim.runWorkload()
        await sim.heal()
        await sim.check()
        return await sim.finish()
    }

    /// Runs one seed twice and adds a `determinism` problem if the two reports differ.
    public static func verify(seed: UInt64, configuration: SimulationConfiguration = .default) async -> SimulationReport {
        var first = await run(seed: seed, configuration: configuration)
        let second = await run(seed: seed, configuration: configuration)
        if first != second {
            var what: [String] = []
            if first.digest != second.digest { what.append("digest \(String(first.digest, radix: 16)) vs \(String(second.digest, radix: 16))") }
            if first.problems != second.problems { what.append("problems differ (\(first.problems.count) vs \(second.problems.count))") }
            if first.description != second.description { what.append("counters differ:\n\(first.description)\nvs\n\(second.description)") }
            first.problems.append(SimulationProblem(kind: "determinism", "two runs of seed \(seed) differ: \(what.joined(separator: "; "))"))
        }
        return first
    }

    mutating func finish() async -> SimulationReport {
        report.serverHead = (try? store.head(of: Self.space).head) ?? -1
        report.elapsedMillis = now - Self.epoch
        report.conflictRecords = (try? store.records(in: Self.space, collection: .conflicts).count) ?? -1
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
    mutating func advance(by millis: Int64) async {
        let target = now + millis
        while let (time, event) = queue.pop(notAfter: target) {
            now = max(now, time)
            await process(event)
        }
        now = target
    }

    /// Processes events until none remain (bounded: a run that never settles is a problem).
    mutating func drain() async {
        var budget = 200_000
        while let (time, event) = queue.pop(notAfter: .max) {
            now = max(now, time)
            await process(event)
            budget -= 1
            if budget == 0 { return problem("convergence", "the event queue did not drain after 200,000 events") }
        }
    }

    /// Processes events until device `d` has no sync running; false (and a problem) if it never ends.
    mutating func runUntilIdle(_ d: Int) async -> Bool {
        var budget = 20_000
        while devices[d].session != nil, let (time, event) = queue.pop(notAfter: .max) {
            now = max(now, time)
            await process(event)
            budget -= 1
            if budget == 0 {
                problem("convergence", "dev-\(d) did not finish a sync within 20,000 events on a healed network")
                return false
            }
        }
        if devices[d].session != nil {
            problem("convergence", "dev-\(d) waits on an answer that can no longer come")
            devices[d].session = nil
            return false
        }
        return true
    }

    mutating func process(_ event: SimulationEvent) async {
        switch event {
        case .deliver(let envelope):
            await deliver(envelope)
        case .timeout(let d, let session, let exchange):
            guard devices[d].sessionNumber == session, devices[d].waiting == exchange else { return }
            report.timeouts += 1
            trace("dev-\(d) gives up on exchange \(exchange)")
            await answered(d, exchange, .failure(TransportError(.offline, "the simulated server did not answer in time")))
        }
    }

    // MARK: The network

    /// Puts `envelope` on the wire, where it may be lost, held back or doubled.
    mutating func transmit(_ envelope: Envelope) {
        report.messagesSent += 1
        digest.mix(now)
        digest.mix(envelope.bytes)
        var envelope = envelope
        envelope.sendOrder = sendOrder
        sendOrder += 1
        let d = envelope.device
        let direction = envelope.toServer ? "dev-\(d) → server" : "server → dev-\(d)"
        if devices[d].isPartitioned(at: now) {
            report.partitionDrops += 1
            trace("\(direction) #\(envelope.exchange) lost (partitioned)")
            return
        }
        if faultsActive && rng.chance(envelope.toServer ? profile.dropRequest : profile.dropResponse) {
            report.dropped += 1
            trace("\(direction) #\(envelope.exchange) dropped")
            return
        }
        var copies = 1
        // A request sent twice (a retrying proxy) reaches the server twice; a device reads one
        // answer per request, as over HTTP.
        if envelope.toServer && rng.chance(profile.duplicate) {
            copies = 2
            report.duplicated += 1
        }
        for copy in 0..<copies {
            var latency = rng.millis(1...30)
            if faultsActive && rng.chance(profile.delay) {
                latency += rng.millis(100...3_000)
                report.delayed += 1
            }
            trace("\(direction) #\(envelope.exchange) \(envelope.route.rawValue)\(copy > 0 ? " (duplicate)" : "") arrives in \(latency) ms")
            queue.schedule(.deliver(envelope), at: now + latency)
        }
    }

    mutating func deliver(_ envelope: Envelope) async {
        let d = envelope.device
        if devices[d].isPartitioned(at: now) {
            report.partitionDrops += 1
            trace("\(envelope.toServer ? "dev-\(d) → server" : "server → dev-\(d)") #\(envelope.exchange) lost in flight (partitioned)")
            return
        }
        if envelope.toServer {
            if envelope.sendOrder < lastDeliveredToServer { report.reordered += 1 }
            lastDeliveredToServer = max(lastDeliveredToServer, envelope.sendOrder)
            await serve(envelope)
        } else {
            if envelope.sendOrder < lastDeliveredToDevice[d] { report.reordered += 1 }
            lastDeliveredToDevice[d] = max(lastDeliveredToDevice[d], envelope.sendOrder)
            await receive(envelope)
        }
    }
}

/// The simulated time, readable by the server's store and service (they take a clock closure).
final class SimulationClock: Sendable {
    private let millis: Mutex<Int64>
    init(_ start: Int64) { millis = Mutex(start) }
    func set(_ value: Int64) { millis.withLock { $0 = value } }
    var read: @Sendable () -> Int64 { { [self] in millis.withLock { $0 } } }
}
