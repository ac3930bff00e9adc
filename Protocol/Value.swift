/// Milliseconds since 1970-01-01T00:00:00Z.
public typealias Timestamp = Int64

/// A link to another record in the same space or the shared briefing.
public struct Reference: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var collection: CollectionName
    public var record: RecordID

    public init(collection: CollectionName, record: RecordID) {
        self.collection = collection
        self.record = record
    }

    public var description: String { "\(collection)/\(record)" }
    public static func < (a: Self, b: Self) -> Bool { (a.collection, a.record) < (b.collection, b.record) }
}

/// One field's value. Sets are kept sorted and without duplicates so equal sets compare and
/// encode equal; build them with `Value.set(_:)` and `Value.references(_:)`.
public enum Value: Sendable {
    case null
    case string(String)
    /// Long text (a note's body): merged three-way and sent as a diff when that is smaller.
    case text(String)
    case integer(Int64)
    case number(Double)
    case boolean(Bool)
    case timestamp(Timestamp)
    case stringSet([String])
    case reference(Reference)
    case referenceSet([Reference])

    /// A string set in canonical form: unique, sorted by UTF-8 bytes.
    public static func set(_ elements: some Sequence<String>) -> Value {
        var seen = Set<[UInt8]>()
        let unique = elements.filter { seen.insert(Array($0.utf8)).inserted }
        return .stringSet(unique.sorted(by: Value.byteOrder))
    }

    /// Orders strings by their UTF-8 bytes (not by Swift's Unicode-aware comparison), so every
    /// implementation sorts alike.
    public static func byteOrder(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// A reference set in canonical (sorted, unique) form.
    public static func references(_ elements: some Sequence<Reference>) -> Value {
        .referenceSet(Array(Set(elements)).sorted())
    }

    /// The name of the value's type, as used in error messages and PROTOCOL.md.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .string: "string"
        case .text: "text"
        case .integer: "integer"
        case .number: "number"
        case .boolean: "boolean"
        case .timestamp: "timestamp"
        case .stringSet: "string set"
        case .reference: "reference"
        case .referenceSet: "reference set"
        }
    }

    /// The text of a `.text` or `.string` value.
    public var textValue: String? {
        switch self {
        case .text(let s), .string(let s): s
        default: nil
        }
    }

    /// Whether sets are in canonical form (sorted, unique); decoding refuses anything else so
    /// one value has exactly one encoding.
    var isCanonical: Bool {
        switch self {
        case .stringSet(let a): zip(a, a.dropFirst()).allSatisfy { Value.byteOrder($0, $1) }
        case .referenceSet(let a): zip(a, a.dropFirst()).allSatisfy { $0 < $1 }
        case .number(let d): d.isFinite
        default: true
        }
    }
}

// Text compares byte for byte: Swift's `String ==` treats canonically equivalent text ("é" and
// "e" + combining accent) as equal, but replicas must agree on the exact bytes (diff positions
// and checksums depend on them).
extension Value: Hashable {
    public static func == (a: Value, b: Value) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.string(let x), .string(let y)), (.text(let x), .text(let y)): x.utf8.elementsEqual(y.utf8)
        case (.integer(let x), .integer(let y)), (.timestamp(let x), .timestamp(let y)): x == y
        case (.number(let x), .number(let y)): x.bitPattern == y.bitPattern
        case (.boolean(let x), .boolean(let y)): x == y
        case (.stringSet(let x), .stringSet(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.utf8.elementsEqual($1.utf8) }
        case (.reference(let x), .reference(let y)): x == y
        case (.referenceSet(let x), .referenceSet(let y)): x == y
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .string(let s): hasher.combine(1); hasher.combine(Array(s.utf8))
        case .text(let s): hasher.combine(2); hasher.combine(Array(s.utf8))
        case .integer(let i): hasher.combine(3); hasher.combine(i)
        case .number(let d): hasher.combine(4); hasher.combine(d.bitPattern)
        case .boolean(let b): hasher.combine(5); hasher.combine(b)
        case .timestamp(let t): hasher.combine(6); hasher.combine(t)
        case .stringSet(let a): hasher.combine(7); for s in a { hasher.combine(Array(s.utf8)) }
        case .reference(let r): hasher.combine(8); hasher.combine(r)
        case .referenceSet(let a): hasher.combine(9); hasher.combine(a)
        }
    }
}
