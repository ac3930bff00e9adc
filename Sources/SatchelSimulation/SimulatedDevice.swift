import SatchelClient
import SatchelProtocol

/// One device: its replica (the real client algorithm on in-memory storage) plus the small sync
/// state machine around it — push the outbox in batches, then pull pages until none remain.
struct SimulatedDevice: Sendable {
    enum Phase: Hashable, Sendable {
        case idle
        /// Waiting for the answer to push exchange `exchange`.
        case pushing(exchange: Int)
        /// Waiting for the answer to pull exchange `exchange`.
        case pulling(exchange: Int)
    }

    let index: Int
    let id: DeviceID
    var replica: MemoryReplicaStorage
    /// How far this device's physical clock is off the simulated time.
    let skewMillis: Int64
    /// A wrong date set on the device (a year ahead), until it is fixed.
    var wrongDateMillis: Int64 = 0
    /// A copy of its store taken earlier, as a backup, that a restore puts back.
    var backup: MemoryReplicaStorage?
    var restored = false
    var phase: Phase = .idle
    /// The number of the last exchange it started.
    var exchange = 0
    /// The pull it waits on an answer to (the page is applied as an answer to it).
    var pullRequest: PullRequest?
    /// Re-bootstraps during the current sync, after gaps and after `cursor_expired`; a device
    /// that keeps needing them gives up the sync.
    var gapResetsInSync = 0
    /// Exchanges during the current sync; a sync that never ends is given up (and reported).
    var exchangesInSync = 0
    var expiredResetsInSync = 0
    /// A push of this sync was refused for the device's clock: the rest of the sync only pulls
    /// (pushing the same writes again would be refused again).
    var clockRefusedInSync = false
    /// Set when it gave up a sync because re-bootstrapping did not help.
    var stuck = false
    /// Cut off from the server until this time.
    var partitionedUntil: Int64 = .min

    /// Every mutation it pushed, by id (the exact value the outbox handed out).
    var sent: [MutationID: Mutation] = [:]
    /// The first answer it got for each mutation it pushed.
    var answers: [MutationID: MutationResult] = [:]
    /// The ids of its writes, in order.
    var written: [MutationID] = []
    /// Mutations requeued under a new id after a `base_expired` rejection: old id → new id.
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

    var isIdle: Bool { phase == .idle }

    func isPartitioned(at now: Int64) -> Bool { now < partitionedUntil }

    mutating func resetActivity() {
        pushedSinceReset = 0
        pulledSinceReset = 0
        failedSinceReset = 0
    }
}
