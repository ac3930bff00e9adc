// The binary encoding of the model types. Field order is the order in PROTOCOL.md; maps are
// written sorted by key and decoders refuse any other order, so every value has one encoding.

extension Identifier: WireCodable {
    public func encode(to w: inout WireWriter) { w.string(rawValue) }
    public init(from r: inout WireReader) throws(FrameError) {
        let s = try r.string()
        self = try r.validated { () throws(Rejection) in try Self(s) }
    }
}

extension Name: WireCodable {
    public func encode(to w: inout WireWriter) { w.string(rawValue) }
    public init(from r: inout WireReader) throws(FrameError) {
        let s = try r.string()
        self = try r.validated { () throws(Rejection) in try Self(s) }
    }
}

extension HLC: WireCodable {
    public func encode(to w: inout WireWriter) { w.fixed64(rawValue) }
    public init(from r: inout WireReader) throws(FrameError) { self.init(rawValue: try r.fixed64()) }
}

extension Reference: WireCodable {
    public func encode(to w: inout WireWriter) {
        collection.encode(to: &w)
        record.encode(to: &w)
    }
    public init(from r: inout WireReader) throws(FrameError) {
        self.init(collection: try Name(from: &r), record: try RecordID(from: &r))
    }
}

extension RecordKey: WireCodable {
    public func encode(to w: inout WireWriter) {
        space.encode(to: &w)
        collection.encode(to: &w)
        record.encode(to: &w)
    }
    public init(from r: inout WireReader) throws(FrameError) {
        self.init(space: try SpaceID(from: &r), collection: try Name(from: &r), record: try RecordID(from: &r))
    }
}

extension Value: WireCodable {
    public func encode(to w: inout WireWriter) {
        switch self {
        case .null: w.byte(0)
        case .string(let s): w.byte(1); w.string(s)
        case .text(let s): w.byte(2); w.string(s)
        case .integer(let i): w.byte(3); w.signed(i)
        case .number(let d): w.byte(4); w.fixed64(d.bitPattern)
        case .boolean(let b): w.byte(5); w.bool(b)
        case .timestamp(let t): w.byte(6); w.signed(t)
        case .stringSet(let a): w.byte(7); w.array(a) { $0.string($1) }
        case .reference(let ref): w.byte(8); ref.encode(to: &w)
        case .referenceSet(let a): w.byte(9); w.array(a) { ref, value in value.encode(to: &ref) }
        }
    }

    public init(from r: inout WireReader) throws(FrameError) {
        let tag = try r.byte()
        switch tag {
        case 0: self = .null
        case 1: self = .string(try r.string())
        case 2: self = .text(try r.string())
        case 3: self = .integer(try r.signed())
        case 4: self = .number(Double(bitPattern: try r.fixed64()))
        case 5: self = .boolean(try r.bool())
        case 6: self = .timestamp(try r.signed())
        case 7: self = .stringSet(try r.array { (r: inout WireReader) throws(FrameError) in try r.string() })
        case 8: self = .reference(try Reference(from: &r))
        case 9: self = .referenceSet(try r.array(minItemBytes: 2) { (r: inout WireReader) throws(FrameError) in try Reference(from: &r) })
        default: throw r.malformed("unknown value type \(tag)")
        }
        guard isCanonical else { throw r.malformed("sets must be sorted without duplicates and numbers finite") }
    }
}

extension TextDiff: WireCodable {
    public func encode(to w: inout WireWriter) {
        w.varint(baseLength)
        w.fixed32(baseChecksum)
        w.array(edits) { w, e in
            w.varint(e.start)
            w.varint(e.deleteCount)
            w.string(e.insert)
        }
    }
    public init(from r: inout WireReader) throws(FrameError) {
        let length = try r.int()
        let checksum = try r.fixed32()
        let edits = try r.array(minItemBytes: 3) { (r: inout WireReader) throws(FrameError) in
            TextEdit(start: try r.int(), deleteCount: try r.int(), insert: try r.string())
        }
        var end = 0
        for e in edits {
            guard e.start >= end, e.start + e.deleteCount <= length else {
                throw r.malformed("text diff edits must be ascending, non-overlapping and inside the base")
            }
            end = e.start + e.deleteCount
        }
        self.init(baseLength: length, baseChecksum: checksum, edits: edits)
    }
}

extension FieldChange: WireCodable {
    public func encode(to w: inout WireWriter) {
        switch self {
        case .set(let v): w.byte(0); v.encode(to: &w)
        case .textDiff(let d): w.byte(1); d.encode(to: &w)
        case .setDelta(let add, let remove): w.byte(2); add.encode(to: &w); remove.encode(to: &w)
        }
    }
    public init(from r: inout WireReader) throws(FrameError) {
        switch try r.byte() {
        case 0: self = .set(try Value(from: &r))
        case 1: self = .textDiff(try TextDiff(from: &r))
        case 2: self = .setDelta(add: try Value(from: &r), remove: try Value(from: &r))
        case let tag: throw r.malformed("unknown field change type \(tag)")
        }
    }
}

extension WireWriter {
    mutating func fieldMap<V: WireCodable>(_ map: [FieldName: V]) {
        varint(map.count)
        for key in map.keys.sorted() {
            key.encode(to: &self)
            map[key]!.encode(to: &self)
        }
    }
}

extension WireReader {
    mutating func fieldMap<V: WireCodable>(_: V.Type) throws(FrameError) -> [FieldName: V] {
        let n = try count(minItemBytes: 3)
        var out: [FieldName: V] = [:]
        out.reserveCapacity(n)
        var previous: FieldName?
        for _ in 0..<n {
            let key = try Name(from: &self)
            if let previous, !(previous < key) { throw malformed("field names must be sorted and unique") }
            previous = key
            out[key] = try V(from: &self)
        }
        return out
    }

    mutating func enumByte<E: CaseIterable>(_: E.Type, _ what: String) throws(FrameError) -> E where E.AllCases.Index == Int {
        let b = Int(try byte())
        guard b < E.allCases.count else { throw malformed("unknown \(what) \(b)") }
        return E.allCases[b]
    }
}

extension CaseIterable where Self: Equatable, AllCases.Index == Int {
    var wireByte: UInt8 { UInt8(Self.allCases.firstIndex(of: self)!) }
}

extension Mutation: WireCodable {
    public func encode(to w: inout WireWriter) {
        id.encode(to: &w)
        device.encode(to: &w)
        w.varint(counter)
        clock.encode(to: &w)
        key.encode(to: &w)
        w.varint(UInt64(baseVersion))
        w.byte(operation.wireByte)
        w.fieldMap(changes)
    }
    public init(from r: inout WireReader) throws(FrameError) {
        let id = try MutationID(from: &r)
        let device = try DeviceID(from: &r)
        let counter = try r.varint()
        let clock = try HLC(from: &r)
        let key = try RecordKey(from: &r)
        let base = try r.varint()
        guard base <= UInt64(Int64.max) else { throw r.malformed("base version out of range") }
        let op = try r.enumByte(Mutation.Operation.self, "operation")
        let changes = try r.fieldMap(FieldChange.self)
        self.init(id: id, device: device, counter: counter, clock: clock, key: key, baseVersion: Int64(base), operation: op, changes: changes)
    }
}

extension Mutation {
    /// What comes before an encoded mutation's changes: enough to acknowledge it without
    /// decoding its field values.
    public struct Header: Hashable, Sendable {
        public var id: MutationID
        public var counter: UInt64
        public var key: RecordKey
        public var baseVersion: Version
        public var operation: Operation
    }

    /// Reads the header of a mutation encoded as `wireBytes`, leaving its changes unread.
    public static func header(wireBytes bytes: [UInt8]) throws(FrameError) -> Header {
        var r = WireReader(bytes)
        let id = try MutationID(from: &r)
        _ = try DeviceID(from: &r)
        let counter = try r.varint()
        _ = try HLC(from: &r)
        let key = try RecordKey(from: &r)
        let base = try r.varint()
        guard base <= UInt64(Int64.max) else { throw r.malformed("base version out of range") }
        let op = try r.enumByte(Mutation.Operation.self, "operation")
        return Header(id: id, counter: counter, key: key, baseVersion: Int64(base), operation: op)
    }
}

extension Change: WireCodable {
    public func encode(to w: inout WireWriter) {
        w.varint(UInt64(version))
        w.varint(UInt64(previousVersion))
        key.encode(to: &w)
        w.byte(kind == .upsert ? 0 : 1)
        w.fieldMap(fields)
        clock.encode(to: &w)
        w.optional(mutation) { w, m in m.encode(to: &w) }
    }
    public init(from r: inout WireReader) throws(FrameError) {
        let version = Int64(bitPattern: try r.varint())
        let previous = Int64(bitPattern: try r.varint())
        guard version > 0, previous >= 0, previous < version else { throw r.malformed("change versions out of order") }
        let key = try RecordKey(from: &r)
        let kind: ChangeKind
        switch try r.byte() {
        case 0: kind = .upsert
        case 1: kind = .delete
        case let b: throw r.malformed("unknown change kind \(b)")
        }
        let fields = try r.fieldMap(FieldChange.self)
        let clock = try HLC(from: &r)
        let mutation = try r.optional { (r: inout WireReader) throws(FrameError) in try MutationID(from: &r) }
        self.init(version: version, previousVersion: previous, key: key, kind: kind, fields: fields, clock: clock, mutation: mutation)
    }
}

extension Rejection: WireCodable {
    public func encode(to w: inout WireWriter) {
        w.string(code.rawValue)
        w.string(message)
    }
    public init(from r: inout WireReader) throws(FrameError) {
        self.init(RejectionCode(rawValue: try r.string()), try r.string())
    }
}

extension MutationResult: WireCodable {
    public func encode(to w: inout WireWriter) {
        mutation.encode(to: &w)
        w.byte(status.wireByte)
        w.varint(UInt64(version))
        w.array(conflicts) { w, id in id.encode(to: &w) }
        w.optional(rejection) { w, e in e.encode(to: &w) }
    }
    public init(from r: inout WireReader) throws(FrameError) {
        let id = try MutationID(from: &r)
        let status = try r.enumByte(MutationStatus.self, "mutation status")
        let version = Int64(bitPattern: try r.varint())
        guard version >= 0 else { throw r.malformed("version out of range") }
        let conflicts = try r.array(minItemBytes: 2) { (r: inout WireReader) throws(FrameError) in try RecordID(from: &r) }
        let rejection = try r.optional { (r: inout WireReader) throws(FrameError) in try Rejection(from: &r) }
        self.init(mutation: id, status: status, version: version, conflicts: conflicts, rejection: rejection)
    }
}

// MARK: storage encoding of record states (servers keep them as blobs; not sent to devices)

extension Stamp: WireCodable {
    public func encode(to w: inout WireWriter) {
        clock.encode(to: &w)
        device.encode(to: &w)
    }
    public init(from r: inout WireReader) throws(FrameError) {
        self.init(clock: try HLC(from: &r), device: try DeviceID(from: &r))
    }
}

extension FieldState: WireCodable {
    public func encode(to w: inout WireWriter) {
        value.encode(to: &w)
        stamp.encode(to: &w)
        w.varint(UInt64(version))
        w.bool(merged)
    }
    public init(from r: inout WireReader) throws(FrameError) {
        self.init(value: try Value(from: &r), stamp: try Stamp(from: &r), version: try r.version(), merged: try r.bool())
    }
}

extension RecordState: WireCodable {
    public func encode(to w: inout WireWriter) {
        w.fieldMap(fields)
        w.bool(deleted)
        w.varint(UInt64(deletedVersion))
        w.optional(deletedStamp) { w, s in s.encode(to: &w) }
        w.varint(UInt64(version))
    }
    public init(from r: inout WireReader) throws(FrameError) {
        let fields = try r.fieldMap(FieldState.self)
        let deleted = try r.bool()
        let deletedVersion = try r.version()
        let deletedStamp = try r.optional { (r: inout WireReader) throws(FrameError) in try Stamp(from: &r) }
        self.init(fields: fields, deleted: deleted, version: try r.version())
        self.deletedVersion = deletedVersion
        self.deletedStamp = deletedStamp
    }
}

/// The encoding of a record's field values on their own, for stores that keep them as blobs.
public enum FieldValues {
    public static func encode(_ values: [FieldName: Value]) -> [UInt8] {
        var w = WireWriter()
        w.fieldMap(values)
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(FrameError) -> [FieldName: Value] {
        var r = WireReader(bytes)
        let values = try r.fieldMap(Value.self)
        guard r.isAtEnd else { throw r.malformed("trailing bytes after field values") }
        return values
    }
}
