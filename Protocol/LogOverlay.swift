/// The storage `ChangeLogPlan` runs the algorithm over: answers from a read set, under the
/// batch's own writes so far, and records those writes as a `LogWriteSet`. A question the read
/// set does not answer is noted in `missing` and answered as if storage had nothing; the plan
/// then asks for the missing reads and throws this pass away.
///
/// A class, because the algorithm's questions are non-mutating and a miss must still be noted.
final class LogOverlay: ChangeLogStorage {
    let schema: Schema
    private let reads: LogReadSet
    private(set) var missing = LogReadRequest()
    private(set) var writes: LogWriteSet
    /// Where each record this batch wrote sits in `writes.records`. One dictionary on the hot
    /// path of every append; earlier states of the batch are found in `writes.history` instead.
    private var slots: [RecordKey: Int] = [:]
    private var results: [MutationID: EarlierResult] = [:]
    private var counters: [DeviceCounter: MutationID] = [:]

    init(schema: Schema, reads: LogReadSet) {
        self.schema = schema
        self.reads = reads
        writes = LogWriteSet(head: reads.head ?? 0)
    }

    /// The answer read for `key`, or nil, noted as missing in the request's `field`.
    private func fetched<Key, Answer>(_ answers: [Key: Answer?], _ key: Key, else field: WritableKeyPath<LogReadRequest, Set<Key>>) -> Answer? {
        if let answer = answers[key] { return answer }
        missing[keyPath: field].insert(key)
        return nil
    }

    func currentHead() -> Version {
        if reads.head == nil { missing.head = true }
        return writes.head
    }

    func result(of mutation: MutationID) -> (device: DeviceID, result: MutationResult)? {
        (results[mutation] ?? fetched(reads.results, mutation, else: \.results)).map { ($0.device, $0.result) }
    }

    func record(_ key: RecordKey) -> RecordState? {
        slots[key].map { writes.records[$0].state } ?? fetched(reads.records, key, else: \.records)
    }

    func base(of key: RecordKey, at version: Version) -> RecordState? {
        // A state this batch wrote is above storage's head, so above its horizon too: the newest
        // at or below `version` is the base (the current one, or one the batch replaced since).
        // Below all of them the base is as storage had it (the states this batch replaced were
        // storage's current ones, which `reads` counts).
        if let slot = slots[key] {
            let current = writes.records[slot].state
            if current.version <= version { return current }
            let head = reads.head ?? 0
            if let replaced = writes.history.last(where: { $0.key == key && $0.state.version > head && $0.state.version <= version }) {
                return replaced.state
            }
        }
        guard version > 0 else { return nil }
        return fetched(reads.bases, RecordBase(key: key, version: version), else: \.bases)
    }

    func mutation(counter: UInt64, of device: DeviceID) -> MutationID? {
        let key = DeviceCounter(device: device, counter: counter)
        return counters[key] ?? fetched(reads.counters, key, else: \.counters)
    }

    func append(_ change: Change, state: RecordState, replacing old: RecordState?, asWrittenBy device: DeviceID?) {
        precondition(change.version == writes.head + 1 && state.version == change.version, "changes must be appended in version order")
        let key = change.key
        writes.changes.append(.init(change: change, asWrittenBy: device))
        if let old { writes.history.append(.init(key: key, state: old)) }
        if let slot = slots[key] {
            writes.records[slot].state = state
        } else {
            slots[key] = writes.records.count
            writes.records.append(.init(key: key, state: state))
        }
        writes.head = change.version
    }

    func saveResult(_ result: MutationResult, of mutation: Mutation, counted: Bool) {
        results[mutation.id] = EarlierResult(device: mutation.device, result: result)
        if counted { counters[DeviceCounter(device: mutation.device, counter: mutation.counter)] = mutation.id }
        writes.results.append(.init(mutation: mutation, result: result, counted: counted))
    }
}
