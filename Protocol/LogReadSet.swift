/// A mutation's earlier result, with the device that sent it.
public struct EarlierResult: Hashable, Sendable {
    public var device: DeviceID
    public var result: MutationResult

    public init(device: DeviceID, result: MutationResult) {
        self.device = device
        self.result = result
    }
}

/// Storage's answers to a `LogReadRequest`, as they stood when read. A key present with a nil
/// value was asked and has no answer (no such record, no earlier result); a key absent was not
/// asked, and `ChangeLogPlan` asks for it.
public struct LogReadSet: Hashable, Sendable {
    public var head: Version?
    public var results: [MutationID: EarlierResult?] = [:]
    public var counters: [DeviceCounter: MutationID?] = [:]
    public var records: [RecordKey: RecordState?] = [:]
    public var bases: [RecordBase: RecordState?] = [:]

    public init() {}

    /// Answers `request` with one call to `reader` per question.
    public init(answering request: LogReadRequest, from reader: some ChangeLogReading) throws {
        if request.head { head = try reader.currentHead() }
        results.reserveCapacity(request.results.count)
        counters.reserveCapacity(request.counters.count)
        records.reserveCapacity(request.records.count)
        // `updateValue`, not subscript assignment: assigning nil would drop the answer "none".
        for id in request.results {
            results.updateValue(try reader.result(of: id).map { EarlierResult(device: $0.device, result: $0.result) }, forKey: id)
        }
        for c in request.counters { counters.updateValue(try reader.mutation(counter: c.counter, of: c.device), forKey: c) }
        for key in request.records { records.updateValue(try reader.record(key), forKey: key) }
        for b in request.bases { bases.updateValue(try reader.base(of: b.key, at: b.version), forKey: b) }
    }

    /// Adds the answers of `other`, read later in the same transaction.
    public mutating func formUnion(_ other: LogReadSet) {
        head = other.head ?? head
        results.merge(other.results) { $1 }
        counters.merge(other.counters) { $1 }
        records.merge(other.records) { $1 }
        bases.merge(other.bases) { $1 }
    }
}
