/// The knobs of a simulation run. Per-seed fault rates are drawn from the seed within these
/// bounds, so some seeds run on a calm network and some on a very bad one.
public struct SimulationConfiguration: Hashable, Sendable {
    /// How many devices share the space.
    public var deviceCount: ClosedRange<Int> = 3...5
    /// How many server processes share the database (each a `SyncService` over its own store
    /// object); every request reaches one at random. 1 runs the single-server simulation.
    public var servers = 2
    /// Workload steps before the network heals.
    public var steps: ClosedRange<Int> = 40...120
    /// How many shared note ids devices create on purpose, so they collide on the same records.
    public var sharedNotes = 3
    /// Drops, duplicates, long delays and partitions while the workload runs.
    public var faults = true
    /// Highest chance that a request or a response is dropped (the seed picks a rate below it).
    public var maxDropChance = 0.25
    /// Highest chance that a message is delivered twice.
    public var maxDuplicateChance = 0.2
    /// Highest chance that a message is held back long enough to overtake others or time out.
    public var maxDelayChance = 0.25
    /// How far a device's physical clock may be off the server's, in some seeds (the others
    /// stay within 2 s). Under the server's 5-minute skew limit, so no write is refused for it.
    public var maxClockSkewMillis: Int64 = 240_000
    /// Whether the server compacts its log now and then (`ChangeLog.compact(through:)`): older
    /// cursors get `cursor_expired`, and devices bootstrap again from a snapshot, in pages as
    /// small as any other, keeping their unsent writes.
    public var compaction = true
    /// Bodies sometimes hold the same accented word composed (NFC, "café") and decomposed (NFD,
    /// "cafe" + U+0301). Swift's `String ==` calls them equal; their bytes, checksums and text
    /// diffs differ. Off: only composed text.
    public var decomposedText = true
    /// Chance that a frame is zlib-compressed (the rest go raw; both must decode identically).
    public var compressionChance = 0.15
    /// How long a device waits for an answer before it treats the exchange as failed.
    public var timeoutMillis: Int64 = 1500
    /// Rounds of "every device syncs" allowed after healing before the run counts as not converging.
    public var maxHealRounds = 12
    /// Now and then a device's store is put back to an earlier copy (a restored backup), its
    /// date is set a year ahead and later fixed, or it pushes writes under ids another device
    /// used (a co-member replaying ids seen in a pull).
    public var adversity = true
    /// Devices crash (a sync's state in memory is lost; the store keeps every step before) and
    /// the server crashes and restarts over its store (before or after applying a request,
    /// whose answer is then lost), at seeded moments.
    public var crashes = true
    /// Highest chance that a device crashes before one step of a sync.
    public var maxDeviceCrashChance = 0.02
    /// Highest chance that the server crashes on one request.
    public var maxServerCrashChance = 0.03
    /// Keep a line per event in `SimulationReport.trace` (for replaying one seed).
    public var trace = false

    public init() {}

    public static let `default` = SimulationConfiguration()
}
