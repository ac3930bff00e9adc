import SatchelClient
import SatchelProtocol
import SatchelTesting

/// One device: its store (the real replica algorithm on in-memory storage), its credentials, and
/// the `SyncSession` running, if a sync is under way.
struct SimulatedDevice: Sendable {
    let index: Int
    /// Given at enrollment (through the server's real enrollment).
    var id: DeviceID
    var token = ""
    var replica: MemoryReplicaStorage
    /// How far this device's physical clock is off the simulated time.
    let skewMillis: Int64
    /// A wrong date set on the device (a year ahead), until it is fixed.
    var wrongDateMillis: Int64 = 0
    /// A copy of its store taken earlier, as a backup, that a restore puts back.
    var backup: MemoryReplicaStorage?
    var restored = false
    /// Whether the server acknowledged a write of it since the backup was taken.
    var acknowledgedSinceBackup = false

    /// The sync under way, and its number (answers to an earlier session's requests, which a
    /// crashed or timed-out session left behind, are dropped as a closed connection drops them).
    var session: SyncSession?
    var sessionNumber = 0
    /// When the current session began (its hello's horizons date from then).
    var sessionStarted: Int64 = 0
    /// The exchange of the current session whose answer the device waits for.
    var waiting: SyncSession.Exchange?
    /// Set when syncs keep failing in a way a healed network cannot explain.
    var stuck = false
    /// Cut off from the server until this time.
    var partitionedUntil: Int64 = .min

    /// Every mutation it pushed, by id (the exact value the outbox handed out).
    var sent: [MutationID: Mutation] = [:]
    /// The first answer it read for each mutation it pushed.
    var answers: [MutationID: MutationResult] = [:]
    /// The ids of its writes, in order.
    var written: [MutationID] = []
    /// Mutations requeued under a new id (whole text after `base_expired`): old id → new id.
    var resentAs: [MutationID: MutationID] = [:]

    /// The latest clock it has observed (pulled changes, push answers) or written: its next
    /// write must carry a later one (PROTOCOL.md §2).
    var latestClock: HLC = .zero

    /// Activity since the counters were last reset (the heal phase uses it to detect quiescence).
    var pushedSinceReset = 0
    var pulledSinceReset = 0
    var failedSinceReset = 0

    init(index: Int, skewMillis: Int64) {
        self.index = index
        self.id = DeviceID(unchecked: "dev-\(index)")
        self.replica = MemoryReplicaStorage(device: id)
        self.skewMillis = skewMillis
    }

    var isIdle: Bool { session == nil }

    func isPartitioned(at now: Int64) -> Bool { now < partitionedUntil }

    mutating func resetActivity() {
        pushedSinceReset = 0
        pulledSinceReset = 0
        failedSinceReset = 0
    }
}
