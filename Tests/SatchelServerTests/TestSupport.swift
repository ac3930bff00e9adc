import Foundation
import SatchelTestSupport
import Logging
import SatchelProtocol
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite

/// Builds mutations for one device with deterministic ids.
struct DeviceWriter {
    var device: DeviceID
    var counter: UInt64 = 0
    var clock = HybridLogicalClock()
    var physical: Int64

    init(_ device: DeviceID, physical: Int64 = 1_796_000_000_000) {
        self.device = device
        self.physical = physical
    }

    mutating func mutation(_ op: Mutation.Operation, _ key: RecordKey, base: Version = 0, _ changes: [FieldName: FieldChange]) -> Mutation {
        counter += 1
        physical += 1
        return Mutation(
            id: MutationID(unchecked: "\(device.rawValue.prefix(40))-m\(counter)"), device: device, counter: counter,
            clock: clock.now(physicalMillis: physical), key: key, baseVersion: base, operation: op, changes: changes)
    }

    mutating func createNote(_ id: String, space: SpaceID = "mission", title: String = "A note", body: String = "Body text") -> Mutation {
        mutation(.create, RecordKey(space: space, collection: .notes, record: RecordID(unchecked: id)), ["title": .set(.string(title)), "body": .set(.text(body))])
    }
}

extension Logger {
    static let test: Logger = {
        var l = Logger(label: "satchel-test")
        l.logLevel = .warning
        return l
    }()
}
