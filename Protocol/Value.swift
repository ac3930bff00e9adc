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
public enum Value: Hashable, Sendable {
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

    /// A string set in canonical (sorted, unique) form.
    public static func set(_ elements: some Sequence<String>) -> Value {
        .stringSet(Array(Set(elements)).sorted())
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
        case .stringSet(let a): zip(a, a.dropFirst()).allSatisfy { $0 < $1 }
        case .referenceSet(let a): zip(a, a.dropFirst()).allSatisfy { $0 < $1 }
        case .number(let d): d.isFinite
        default: true
        }
    }
}
