import Foundation
public import SatchelProtocol

/// A space as JSON for `satchel-server export`: every live record with its fields. Tombstones
/// and history are not exported.
public struct SpaceExport: Codable, Hashable, Sendable {
    public struct Record: Codable, Hashable, Sendable {
        public var collection: String
        public var id: String
        public var version: Int64
        public var fields: [String: ExportedValue]
    }
    public var space: String
    public var head: Int64
    public var horizon: Int64
    public var exportedAt: String
    public var records: [Record]
}

/// A field value in an export: sets as arrays, timestamps as ISO 8601, references as
/// `space/collection/record`.
public enum ExportedValue: Codable, Hashable, Sendable {
    case null, string(String), integer(Int64), number(Double), boolean(Bool), strings([String])

    init(_ value: Value) {
        switch value {
        case .null: self = .null
        case .string(let s), .text(let s): self = .string(s)
        case .integer(let i): self = .integer(i)
        case .number(let d): self = .number(d)
        case .boolean(let b): self = .boolean(b)
        case .timestamp(let t): self = .string(AdminService.iso(t)!)
        case .stringSet(let a): self = .strings(a)
        case .reference(let r): self = .string(r.description)
        case .referenceSet(let a): self = .strings(a.map(\.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .string(let s): try c.encode(s)
        case .integer(let i): try c.encode(i)
        case .number(let d): try c.encode(d)
        case .boolean(let b): try c.encode(b)
        case .strings(let a): try c.encode(a)
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .boolean(b) }
        else if let i = try? c.decode(Int64.self) { self = .integer(i) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else { self = .strings(try c.decode([String].self)) }
    }
}

/// Retention, re-bootstraps, exports and metrics: operator actions beyond users and devices.
extension AdminService {
    /// Compacts one space, or all, through the newest change written more than `olderThan`
    /// milliseconds ago. Devices whose cursor falls below the new horizon bootstrap again.
    public func compact(space: SpaceID?, olderThan: Int64, dryRun: Bool) async throws -> [CompactionReport] {
        var spaces = try await store.allSpaces()
        if let space { spaces = [space] }
        var reports: [CompactionReport] = []
        for s in spaces {
            let through = try await store.version(of: s, writtenBefore: now() - olderThan)
            reports.append(try await store.compact(s, through: through, dryRun: dryRun))
        }
        return reports
    }

    /// Makes a device pull `space` again from the start on its next sync; its unsent writes
    /// stay. A live device is told to sync now (through the store's feed).
    public func rebootstrap(_ device: DeviceID, space: SpaceID) async throws -> AdminDevice {
        try await store.requestReset(device: device, space: space, now: now())
        guard let info = try await store.device(device) else { throw StoreError(.unknownDevice, "device '\(device)' vanished") }
        return summary(info)
    }

    /// Every live record of a space, as JSON-ready values.
    public func export(_ space: SpaceID) async throws -> SpaceExport {
        guard try await store.allSpaces().contains(space) else {
            throw StoreError(.unknownSpace, "space '\(space)' does not exist; `satchel-server space list` shows the spaces")
        }
        let (head, horizon) = try await store.head(of: space)
        var records: [SpaceExport.Record] = []
        for collection in Schema.standard.collections.keys.sorted() {
            let states = try await store.records(in: space, collection: collection)
            for (key, state) in states.sorted(by: { $0.key < $1.key }) where !state.deleted {
                records.append(SpaceExport.Record(
                    collection: collection.rawValue, id: key.record.rawValue, version: state.version,
                    fields: Dictionary(uniqueKeysWithValues: state.fields.map { ($0.key.rawValue, ExportedValue($0.value.value)) })))
            }
        }
        return SpaceExport(space: space.rawValue, head: head, horizon: horizon, exportedAt: Self.iso(now())!, records: records)
    }
}
