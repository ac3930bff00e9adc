import SatchelProtocol
import SatchelServerCore

/// The change log in memory, as a backend of the shared algorithm run as plan and apply
/// (`ChangeLogBackend`): it answers read sets from its dictionaries and writes write sets into
/// them. `MemoryServerStore`'s lock is the version lock, held from the read to the write. Unlike
/// the reference `ChangeLog`, it keeps a horizon per space (compaction is per space), when each
/// change was written (for retention), and each change's wire encoding (pulls send it as is).
struct MemoryChangeLog: ChangeLogReading, ChangeLogBackend, Sendable {
    struct StoredChange: Sendable {
        var change: Change
        var encoded: [UInt8]
        /// When it was written (ms), for retention.
        var at: Timestamp
        /// The device whose write it reproduces exactly, left out of that device's pulls.
        var asWrittenBy: DeviceID?
    }

    struct CountedWrite: Sendable {
        var mutation: MutationID
        var clock: HLC
    }

    let schema: Schema
    /// When the changes appended now are written (ms).
    var now: Timestamp = 0
    /// The last version handed out in any space; compaction never lowers it.
    private var lastVersion: Version = 0
    /// Every record's current state, tombstones included.
    private(set) var records: [RecordKey: RecordState] = [:]
    /// Earlier states of each record, oldest first, kept as merge bases.
    private var history: [RecordKey: [RecordState]] = [:]
    /// Each space's changes, in version order.
    private var changes: [SpaceID: [StoredChange]] = [:]
    private var horizons: [SpaceID: Version] = [:]
    private var results: [MutationID: (device: DeviceID, result: MutationResult)] = [:]
    /// Each device's counted writes by counter.
    private var counters: [DeviceID: [UInt64: CountedWrite]] = [:]

    init(schema: Schema) { self.schema = schema }

    func currentHead() -> Version { lastVersion }

    func result(of mutation: MutationID) -> (device: DeviceID, result: MutationResult)? { results[mutation] }

    func record(_ key: RecordKey) -> RecordState? { records[key] }

    func base(of key: RecordKey, at version: Version) -> RecordState? {
        guard version > 0, version >= horizon(of: key.space) else { return nil }
        if let current = records[key], current.version <= version { return current }
        return history[key]?.last { $0.version <= version }
    }

    func mutation(counter: UInt64, of device: DeviceID) -> MutationID? { counters[device]?[counter]?.mutation }

    /// Writes a planned push. Nothing here can fail, so a push lands whole.
    mutating func write(_ writes: LogWriteSet) {
        precondition(writes.changes.first.map { $0.change.version == lastVersion + 1 } ?? true, "changes must be appended in version order")
        for appended in writes.changes {
            let change = appended.change
            changes[change.key.space, default: []].append(StoredChange(change: change, encoded: change.wireBytes, at: now, asWrittenBy: appended.asWrittenBy))
        }
        for old in writes.history { history[old.key, default: []].append(old.state) }
        for new in writes.records { records[new.key] = new.state }
        for saved in writes.results {
            let mutation = saved.mutation
            results[mutation.id] = (mutation.device, saved.result)
            if saved.counted { counters[mutation.device, default: [:]][mutation.counter] = CountedWrite(mutation: mutation.id, clock: mutation.clock) }
        }
        lastVersion = writes.head
    }

    /// The highest counter among the device's counted writes, with that write's clock.
    func writeState(of device: DeviceID) -> DeviceWriteState? {
        guard let (counter, write) = counters[device]?.max(by: { $0.key < $1.key }) else { return nil }
        return DeviceWriteState(counter: counter, clock: write.clock, mutation: write.mutation)
    }

    func horizon(of space: SpaceID) -> Version { horizons[space] ?? 0 }

    /// The space's latest version: its newest change, or its horizon once compaction dropped that.
    func head(of space: SpaceID) -> Version { max(changes[space]?.last?.change.version ?? 0, horizon(of: space)) }

    /// The space's changes after `after`, in version order.
    func changes(in space: SpaceID, after: Version) -> ArraySlice<StoredChange> {
        let all = changes[space] ?? []
        // Binary search: versions ascend.
        var low = 0, high = all.count
        while low < high {
            let mid = (low + high) / 2
            if all[mid].change.version <= after { low = mid + 1 } else { high = mid }
        }
        return all[low...]
    }

    func changeCount(in space: SpaceID, after: Version) -> Int { changes(in: space, after: after).count }

    /// Drops the space's changes at or below `version` (or its horizon, if higher), its tombstones
    /// at or below it with their history, and merge bases older than the newest one at or below
    /// it (mutations based on those get stale_base conflicts already, see `base`); then raises
    /// the horizon. The caller checks the space exists and `version` is within its head.
    mutating func compact(_ space: SpaceID, through version: Version, dryRun: Bool) -> CompactionReport {
        let previous = horizon(of: space)
        let through = max(previous, version)
        let kept = changes(in: space, after: through)
        let droppedChanges = (changes[space]?.count ?? 0) - kept.count
        changes[space] = Array(kept)
        var droppedHistory = 0
        let tombstones = records.filter { $0.key.space == space && $0.value.deleted && $0.value.version <= through }.map(\.key)
        for key in tombstones {
            records[key] = nil
            droppedHistory += history.removeValue(forKey: key)?.count ?? 0
        }
        for (key, states) in history where key.space == space {
            guard let newestBase = states.lastIndex(where: { $0.version <= through }) else { continue }
            droppedHistory += newestBase
            history[key] = Array(states[newestBase...])
        }
        horizons[space] = through
        return CompactionReport(space: space.rawValue, previousHorizon: previous, horizon: through,
                                changes: droppedChanges, tombstones: tombstones.count, history: droppedHistory, dryRun: dryRun)
    }
}
