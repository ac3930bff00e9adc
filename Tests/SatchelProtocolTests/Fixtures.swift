@testable import SatchelProtocol

/// A small builder for mutations against one record, so merge tests read like the table in PROTOCOL.md.
struct Writer {
    var device: DeviceID
    var counter: UInt64 = 0
    var millis: Int64

    init(_ device: DeviceID, at millis: Int64 = 1_000_000) {
        self.device = device
        self.millis = millis
    }

    static let key = RecordKey(space: "mission", collection: .notes, record: "note-1")

    mutating func next(
        _ op: Mutation.Operation, base: Version, _ changes: [FieldName: FieldChange] = [:], key: RecordKey = Writer.key
    ) -> Mutation {
        counter += 1
        millis += 10
        return Mutation(
            id: MutationID(unchecked: "\(device)-\(counter)"), device: device, counter: counter,
            clock: HLC(millis: millis, counter: 0), key: key, baseVersion: base, operation: op, changes: changes)
    }

    mutating func create(_ fields: [FieldName: Value], key: RecordKey = Writer.key) -> Mutation {
        next(.create, base: 0, fields.mapValues { .set($0) }, key: key)
    }

    mutating func patch(base: Version, _ fields: [FieldName: Value], key: RecordKey = Writer.key) -> Mutation {
        next(.patch, base: base, fields.mapValues { .set($0) }, key: key)
    }

    mutating func delete(base: Version, key: RecordKey = Writer.key) -> Mutation {
        next(.delete, base: base, key: key)
    }
}

extension ChangeLog {
    func values(_ key: RecordKey = Writer.key) -> [FieldName: Value]? {
        guard let r = records[key], !r.deleted else { return nil }
        return r.values
    }

    func conflictRecords(in space: SpaceID = "mission") -> [[FieldName: Value]] {
        records.filter { $0.key.space == space && $0.key.collection == .conflicts && !$0.value.deleted }
            .sorted { $0.key < $1.key }.map(\.value.values)
    }
}
