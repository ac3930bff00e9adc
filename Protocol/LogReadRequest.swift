/// A device's write counter: the log refuses a second write under one (`device_copied`).
public struct DeviceCounter: Hashable, Sendable {
    public var device: DeviceID
    public var counter: UInt64

    public init(device: DeviceID, counter: UInt64) {
        self.device = device
        self.counter = counter
    }
}

/// A record at a version: the merge base a mutation names.
public struct RecordBase: Hashable, Sendable {
    public var key: RecordKey
    public var version: Version

    public init(key: RecordKey, version: Version) {
        self.key = key
        self.version = version
    }
}

/// What `ChangeLogPlan` needs read from storage to run a batch of mutations: the questions of
/// `ChangeLogReading`, asked all at once so a backend can answer them in a few round trips.
public struct LogReadRequest: Hashable, Sendable {
    /// Whether the head is needed (`ChangeLogReading.currentHead`).
    public var head = false
    /// Mutation ids whose earlier results are needed.
    public var results: Set<MutationID> = []
    /// Counters whose stored writes are needed.
    public var counters: Set<DeviceCounter> = []
    /// Records whose current states are needed.
    public var records: Set<RecordKey> = []
    /// Merge bases needed (`ChangeLogReading.base(of:at:)`).
    public var bases: Set<RecordBase> = []

    public init() {}

    /// What a batch of mutations needs before it can be planned: everything but the records
    /// under its conflict ids, which few batches produce and a second round reads.
    public init(_ mutations: [Mutation], asOperator: Bool) {
        head = true
        results.reserveCapacity(mutations.count)
        counters.reserveCapacity(asOperator ? 0 : mutations.count)
        records.reserveCapacity(mutations.count)
        for m in mutations {
            results.insert(m.id)
            // Operators' writes are not a device's: their counters are never checked.
            if !asOperator { counters.insert(DeviceCounter(device: m.device, counter: m.counter)) }
            records.insert(m.key)
            // No record has a base at version 0 (`ChangeLogReading.base` answers nil).
            if m.baseVersion > 0 { bases.insert(RecordBase(key: m.key, version: m.baseVersion)) }
        }
    }

    public var isEmpty: Bool { !head && results.isEmpty && counters.isEmpty && records.isEmpty && bases.isEmpty }
}
