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
    public var rejection: ValidationError?

    public init(mutation: MutationID, status: MutationStatus, version: Version, conflicts: [RecordID] = [], rejection: ValidationError? = nil) {
        self.mutation = mutation
        self.status = status
        self.version = version
        self.conflicts = conflicts
        self.rejection = rejection
    }
}

/// The change log in memory: the reference model of what a server store does with pushed
/// mutations (dedupe by id, merge, append, keep bases, page by cursor). The simulation and the
/// property tests drive it; server stores must behave the same.
public struct ChangeLog: Sendable {
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
    /// The result of every mutation seen, so a repeated push gets the same answer and no second effect.
    private var results: [MutationID: MutationResult] = [:]

    public init(schema: Schema = .standard) { self.schema = schema }

    /// Applies one mutation from a device (schema checks, device access, merge) and appends the
    /// changes it causes. A mutation id seen before returns its first result and changes nothing.
    @discardableResult
    public mutating func push(_ m: Mutation) -> MutationResult {
        if let earlier = results[m.id] { return earlier }
        let result: MutationResult
        do {
            try schema.validate(m)
            try schema.checkDeviceAccess(m)
            result = try apply(m)
        } catch {
            result = MutationResult(mutation: m.id, status: .rejected, version: 0, rejection: error)
        }
        results[m.id] = result
        return result
    }

    /// Writes a record directly (operators loading reference data), bypassing device access.
    @discardableResult
    public mutating func write(_ m: Mutation) throws(ValidationError) -> MutationResult {
        try schema.validate(m)
        return try apply(m)
    }

    private mutating func apply(_ m: Mutation) throws(ValidationError) -> MutationResult {
        let current = records[m.key]
        let outcome = try Merge.apply(m, to: current, base: base(of: m.key, at: m.baseVersion), schema: schema, version: head + 1)
        var version = current?.version ?? 0
        if outcome.changed {
            version = append(key: m.key, state: outcome.state, mutation: m.id)
        }
        var conflictIDs: [RecordID] = []
        for (index, conflict) in outcome.conflicts.enumerated() {
            let id = Conflict.recordID(for: m.id, index: index)
            let key = RecordKey(space: m.key.space, collection: .conflicts, record: id)
            let stamp = m.stamp
            var state = RecordState(version: head + 1)
            for (name, value) in conflict.recordFields(about: m.key, mutation: m.id) {
                state.fields[name] = FieldState(value: value, stamp: stamp, version: head + 1)
            }
            append(key: key, state: state, mutation: m.id)
            conflictIDs.append(id)
        }
        return MutationResult(mutation: m.id, status: outcome.status, version: version, conflicts: conflictIDs)
    }

    @discardableResult
    private mutating func append(key: RecordKey, state: RecordState, mutation: MutationID) -> Version {
        head += 1
        precondition(state.version == head)
        let old = records[key]
        if let old { history[key, default: []].append(old) }
        records[key] = state
        changes.append(Change(key: key, from: old, to: state, mutation: mutation))
        return head
    }

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

    /// Up to `limit` changes of `space` after version `after`, and whether more remain.
    public func pull(space: SpaceID, after: Version, limit: Int) -> (changes: [Change], hasMore: Bool) {
        var start = changes.partitionPoint { $0.version <= after }
        var page: [Change] = []
        while start < changes.count {
            let c = changes[start]
            start += 1
            guard c.key.space == space else { continue }
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
