/// The outcome of one pushed mutation, as the server reports it.
public struct MutationResult: Hashable, Sendable {
    public var mutation: MutationID
    public var status: MutationStatus
    /// The record's version after it (0 when rejected or when nothing changed and the record
    /// never existed).
    public var version: Version
    /// Ids of the `conflicts` records it produced.
    public var conflicts: [RecordID]
    /// Why it was rejected, when `status == .rejected`.
    public var rejection: Rejection?
    /// The record after it is exactly what the device computes by applying the mutation to the
    /// version it named (a create of a new id, or an uncontested edit of the latest version).
    /// The device may then confirm it at once, and a pull that asks leaves the change out
    /// (PROTOCOL.md §5). Sent only to devices that ask (`PushRequest.reportAsWritten`).
    public var asWritten: Bool

    public init(mutation: MutationID, status: MutationStatus, version: Version, conflicts: [RecordID] = [], rejection: Rejection? = nil, asWritten: Bool = false) {
        self.mutation = mutation
        self.status = status
        self.version = version
        self.conflicts = conflicts
        self.rejection = rejection
        self.asWritten = asWritten
    }
}

/// What the change-log algorithm reads from storage. Split from `ChangeLogStorage` so a backend
/// that only answers read sets (`LogReadSet(answering:from:)`) states just these.
public protocol ChangeLogReading {
    /// The version of the last change appended (0 for an empty log).
    func currentHead() throws -> Version
    /// The result recorded for a mutation id, if it was seen before, with the device that sent it.
    func result(of mutation: MutationID) throws -> (device: DeviceID, result: MutationResult)?
    /// The record's current state, tombstones included.
    func record(_ key: RecordKey) throws -> RecordState?
    /// The record as it was at `version`, or nil when that is older than the kept history.
    func base(of key: RecordKey, at version: Version) throws -> RecordState?
    /// The id of the stored device write of `device` that used `counter`, if any.
    func mutation(counter: UInt64, of device: DeviceID) throws -> MutationID?
}

/// What the change-log algorithm needs from storage. The algorithm itself (`applyMutation`,
/// `applyOperatorWrite`) is shared: the in-memory `ChangeLog` runs it over its own state, and
/// server stores run it through `ChangeLogPlan`, over what they read before and writing what it
/// returns, inside one transaction per push.
public protocol ChangeLogStorage: ChangeLogReading {
    var schema: Schema { get }
    /// Appends `change` (whose version is `currentHead() + 1`) and makes `state` the record's
    /// current state, keeping `old` as history for later merges. `asWrittenBy` names the device
    /// whose mutation the change reproduces exactly (`MutationResult.asWritten`), so pulls of
    /// that device can leave it out; a store may ignore it and send the change anyway.
    mutating func append(_ change: Change, state: RecordState, replacing old: RecordState?, asWrittenBy device: DeviceID?) throws
    /// Records a mutation's result, so a repeated push gets the same answer and no second effect.
    /// `counted`: a device's write that was not refused, whose counter is now used
    /// (`mutation(counter:of:)`) and which counts toward what the server reports of the device's
    /// writes (`DeviceWriteState`).
    mutating func saveResult(_ result: MutationResult, of mutation: Mutation, counted: Bool) throws
}

extension ChangeLogStorage {
    /// Applies one mutation from a device: schema checks, device access, merge, append. A
    /// mutation id seen before from the same device returns its first result and changes
    /// nothing; from another device it is refused (`mutation_id_taken`) without being recorded,
    /// so no device can make another's later write look applied. Rejections are results, not
    /// errors; only storage failures throw.
    public mutating func applyMutation(_ m: Mutation) throws -> MutationResult {
        try apply(m, asDevice: true)
    }

    /// Applies an operator's write (loading reference data): device access rules do not apply.
    public mutating func applyOperatorWrite(_ m: Mutation) throws -> MutationResult {
        try apply(m, asDevice: false)
    }

    private mutating func apply(_ m: Mutation, asDevice: Bool) throws -> MutationResult {
        if let earlier = try result(of: m.id) {
            guard earlier.device == m.device else {
                return MutationResult(mutation: m.id, status: .rejected, version: 0, rejection: Rejection(
                    .mutationIDTaken, "mutation id \(m.id) is another device's; send the write again under a new random id"))
            }
            return earlier.result
        }
        // A device uses each counter once (a write sent again under a new id takes a new one), so
        // a new id under a used counter comes from a second machine holding a copy of the
        // device's store. Refused before it can be mistaken for the first machine's write.
        if asDevice, let other = try mutation(counter: m.counter, of: m.device), other != m.id {
            return MutationResult(mutation: m.id, status: .rejected, version: 0, rejection: Rejection(
                .deviceCopied, "device '\(m.device)' already used counter \(m.counter) for another write: two machines share this device's identity (a copied or restored home); join again from this one"))
        }
        let result: MutationResult
        do {
            try schema.validate(m)
            if asDevice { try schema.checkDeviceAccess(m) }
            result = try merge(m)
        } catch let error as Rejection {
            result = MutationResult(mutation: m.id, status: .rejected, version: 0, rejection: error)
        }
        // A refused write's counter stays free: clients before random ids sent a write refused
        // for its diff again under a new id with the same counter.
        try saveResult(result, of: m, counted: asDevice && result.status != .rejected)
        return result
    }

    private mutating func merge(_ m: Mutation) throws -> MutationResult {
        let current = try record(m.key)
        var head = try currentHead()
        let outcome = try Merge.apply(m, to: current, base: try base(of: m.key, at: m.baseVersion), schema: schema, version: head + 1)
        var version = current?.version ?? 0
        let asWritten = outcome.changed && Self.isAsWritten(m, on: current, outcome)
        if outcome.changed {
            head += 1
            try append(Change(key: m.key, from: current, to: outcome.state, mutation: m.id), state: outcome.state, replacing: current,
                       asWrittenBy: asWritten ? m.device : nil)
            version = head
        }
        var conflictIDs: [RecordID] = []
        for (index, conflict) in outcome.conflicts.enumerated() {
            head += 1
            let id = Conflict.recordID(for: m.id, index: index)
            let key = RecordKey(space: m.key.space, collection: .conflicts, record: id)
            var state = RecordState(version: head)
            for (name, value) in conflict.recordFields(about: m.key, mutation: m.id) {
                state.fields[name] = FieldState(value: value, stamp: m.stamp, version: head)
            }
            let old = try record(key)
            try append(Change(key: key, from: old, to: state, mutation: m.id), state: state, replacing: old, asWrittenBy: nil)
            conflictIDs.append(id)
        }
        return MutationResult(mutation: m.id, status: outcome.status, version: version, conflicts: conflictIDs, asWritten: asWritten)
    }

    /// Whether the record after `m` is what its device computes from the version it named: a
    /// create of an id the server does not hold, or a patch or delete of the live record at
    /// exactly that version, applied without conflict. Then every field was seen (no merge), a
    /// text diff applies to the same text, and a set delta to the same set.
    static func isAsWritten(_ m: Mutation, on current: RecordState?, _ outcome: MergeOutcome) -> Bool {
        guard outcome.status == .applied, outcome.conflicts.isEmpty else { return false }
        guard let current else { return m.operation == .create }
        return m.operation != .create && !current.deleted && m.baseVersion == current.version
    }
}

/// The change log in memory: the reference model of what a server store does with pushed
/// mutations. The simulation and the property tests drive it.
public struct ChangeLog: ChangeLogStorage, Sendable {
    public let schema: Schema
    /// The version of the last change appended.
    public private(set) var head: Version = 0
    /// Bases at versions below this are no longer kept (see `forgetHistory(before:)`).
    public private(set) var horizon: Version = 0
    /// Every record's current state, tombstones included.
    public private(set) var records: [RecordKey: RecordState] = [:]
    /// Every change, in version order.
    public private(set) var changes: [Change] = []
    /// Earlier states of each record, oldest first, kept as merge bases.
    private var history: [RecordKey: [RecordState]] = [:]
    private var results: [MutationID: (device: DeviceID, result: MutationResult)] = [:]
    /// Each device's stored writes by counter, and the latest of them.
    private var counters: [DeviceID: [UInt64: MutationID]] = [:]
    private var latest: [DeviceID: DeviceWriteState] = [:]
    /// The device whose write each version reproduces exactly, for pulls that leave those out.
    private var asWrittenBy: [Version: DeviceID] = [:]

    public init(schema: Schema = .standard) { self.schema = schema }

    /// Applies a device's mutation (see `applyMutation`).
    @discardableResult
    public mutating func push(_ m: Mutation) -> MutationResult {
        // In memory nothing can fail but the merge, whose failures are results.
        try! applyMutation(m)
    }

    public func currentHead() -> Version { head }
    public func result(of mutation: MutationID) -> (device: DeviceID, result: MutationResult)? { results[mutation] }
    public func record(_ key: RecordKey) -> RecordState? { records[key] }

    public mutating func append(_ change: Change, state: RecordState, replacing old: RecordState?, asWrittenBy device: DeviceID?) {
        head += 1
        precondition(change.version == head && state.version == head, "changes must be appended in version order")
        if let device { asWrittenBy[head] = device }
        if let old { history[change.key, default: []].append(old) }
        records[change.key] = state
        changes.append(change)
    }

    public mutating func saveResult(_ result: MutationResult, of mutation: Mutation, counted: Bool) {
        results[mutation.id] = (mutation.device, result)
        guard counted else { return }
        counters[mutation.device, default: [:]][mutation.counter] = mutation.id
        if mutation.counter >= latest[mutation.device]?.counter ?? 0 {
            latest[mutation.device] = DeviceWriteState(counter: mutation.counter, clock: mutation.clock, mutation: mutation.id)
        }
    }

    public func mutation(counter: UInt64, of device: DeviceID) -> MutationID? { counters[device]?[counter] }

    /// What the log holds of a device's writes (`HelloResponse.deviceState`).
    public func writeState(of device: DeviceID) -> DeviceWriteState? { latest[device] }

    /// The record as it was at `version`, or nil when that is older than the kept history.
    public func base(of key: RecordKey, at version: Version) -> RecordState? {
        if version < horizon || version == 0 { return nil }
        if let current = records[key], current.version <= version { return current }
        return history[key]?.last { $0.version <= version }
    }

    /// Forgets merge bases before `version`: mutations based on older versions then get
    /// `stale_base` conflicts instead of three-way merges.
    public mutating func forgetHistory(before version: Version) {
        horizon = max(horizon, version)
        for key in history.keys {
            // Keep the newest state at or before the horizon: it is still the base for versions after it.
            let states = history[key]!
            let keepFrom = states.lastIndex { $0.version <= horizon } ?? 0
            history[key] = Array(states[keepFrom...])
        }
    }

    /// Compacts the log through `version`: changes at or below it go, so do tombstones no device
    /// within the horizon still needs, and merge bases older than it. Devices with older
    /// cursors must bootstrap again from a snapshot.
    public mutating func compact(through version: Version) {
        precondition(version <= head, "cannot compact past the head")
        forgetHistory(before: version)
        changes.removeAll { $0.version <= horizon }
        asWrittenBy = asWrittenBy.filter { $0.key > horizon }
        for (key, state) in records where state.deleted && state.version <= horizon {
            records[key] = nil
            history[key] = nil
        }
    }

    /// Up to `limit` current record states of `space` (tombstones included) with versions after
    /// `after`, oldest first, as snapshot changes; and whether more remain.
    public func snapshot(space: SpaceID, after: Version, limit: Int) -> (changes: [Change], hasMore: Bool) {
        let newer = records.filter { $0.key.space == space && $0.value.version > after }.sorted { $0.value.version < $1.value.version }
        return (newer.prefix(limit).map { Change(snapshotOf: $0.value, key: $0.key) }, newer.count > limit)
    }

    /// Up to `limit` changes of `space` after version `after`, and whether more remain; without
    /// the changes that reproduce `omitting`'s own writes exactly, when given.
    public func pull(space: SpaceID, after: Version, limit: Int, omitting device: DeviceID? = nil) -> (changes: [Change], hasMore: Bool) {
        var start = changes.partitionPoint { $0.version <= after }
        var page: [Change] = []
        while start < changes.count {
            let c = changes[start]
            start += 1
            guard c.key.space == space else { continue }
            if let device, asWrittenBy[c.version] == device { continue }
            if page.count == limit { return (page, true) }
            page.append(c)
        }
        return (page, false)
    }
}

extension Array {
    /// The index of the first element for which `predicate` is false, given that it is true for
    /// a prefix of the array and false for the rest.
    func partitionPoint(_ predicate: (Element) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            if predicate(self[mid]) { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
