public import SatchelProtocol

/// Builds mutations for one device with deterministic ids, counters and clocks.
public struct DeviceWriter: Sendable {
    public var device: DeviceID
    public var counter: UInt64 = 0
    public var clock = HybridLogicalClock()
    public var physical: Int64

    public init(_ device: DeviceID, physical: Int64 = 1_796_000_000_000) {
        self.device = device
        self.physical = physical
    }

    public mutating func mutation(_ op: Mutation.Operation, _ key: RecordKey, base: Version = 0, _ changes: [FieldName: FieldChange]) -> Mutation {
        counter += 1
        physical += 1
        return Mutation(
            id: MutationID(unchecked: "\(device.rawValue.prefix(40))-m\(counter)"), device: device, counter: counter,
            clock: clock.now(physicalMillis: physical), key: key, baseVersion: base, operation: op, changes: changes)
    }

    public mutating func createNote(_ id: String, space: SpaceID = "mission", title: String = "A note", body: String = "Body text") -> Mutation {
        mutation(.create, RecordKey(space: space, collection: .notes, record: RecordID(unchecked: id)), ["title": .set(.string(title)), "body": .set(.text(body))])
    }
}
