/// A typed identifier: a short ASCII string whose kind (space, record, device…) is part of its type,
/// so a `RecordID` can never be passed where a `SpaceID` is expected.
public struct Identifier<Kind: IdentifierKind>: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The identifier as it travels on the wire and is stored.
    public let rawValue: String

    /// Accepts `rawValue` if it is 1–64 characters of `A–Z a–z 0–9 . _ : -`.
    public init(_ rawValue: String) throws(Rejection) {
        guard Self.isValid(rawValue) else {
            throw Rejection(
                .invalidIdentifier,
                "\(Kind.noun) id '\(rawValue.prefix(80))' is not valid: use 1–64 characters from A–Z, a–z, 0–9, '.', '_', ':' and '-'")
        }
        self.rawValue = rawValue
    }

    /// For literals and values already known to be valid; traps on an invalid id (a programmer error).
    public init(unchecked rawValue: String) {
        precondition(Self.isValid(rawValue), "invalid \(Kind.noun) id '\(rawValue)'")
        self.rawValue = rawValue
    }

    /// A new random id: 128 bits from `generator`, as 26 lowercase Crockford base-32 characters.
    public static func random(using generator: inout some RandomNumberGenerator) -> Self {
        Self(unchecked: Base32.encode128(generator.next(), generator.next()))
    }

    public static func isValid(_ s: String) -> Bool {
        let utf8 = s.utf8
        guard !utf8.isEmpty, utf8.count <= 64 else { return false }
        return utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == 0x2E || b == 0x5F || b == 0x3A || b == 0x2D
        }
    }

    public var description: String { rawValue }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

extension Identifier: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self.init(unchecked: value) }
}

/// The kind of thing an `Identifier` names; only used as a type tag.
public protocol IdentifierKind: Sendable { static var noun: String { get } }

public enum SpaceKind: IdentifierKind { public static let noun = "space" }
public enum RecordKind: IdentifierKind { public static let noun = "record" }
public enum DeviceKind: IdentifierKind { public static let noun = "device" }
public enum UserKind: IdentifierKind { public static let noun = "user" }
public enum MutationKind: IdentifierKind { public static let noun = "mutation" }

public typealias SpaceID = Identifier<SpaceKind>
public typealias RecordID = Identifier<RecordKind>
public typealias DeviceID = Identifier<DeviceKind>
public typealias UserID = Identifier<UserKind>
public typealias MutationID = Identifier<MutationKind>

/// A collection or field name: a lowercase ASCII word such as `notes` or `createdAt`.
public struct Name: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String

    /// Accepts 1–40 characters: a letter, then letters, digits or `_`.
    public init(_ rawValue: String) throws(Rejection) {
        guard Self.isValid(rawValue) else {
            throw Rejection(
                .invalidName,
                "name '\(rawValue.prefix(80))' is not valid: use 1–40 characters, a letter first, then letters, digits or '_'")
        }
        self.rawValue = rawValue
    }

    public init(stringLiteral value: String) {
        precondition(Self.isValid(value), "invalid name '\(value)'")
        self.rawValue = value
    }

    public static func isValid(_ s: String) -> Bool {
        let utf8 = Array(s.utf8)
        guard let first = utf8.first, utf8.count <= 40 else { return false }
        let isLetter = { (b: UInt8) in (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }
        return isLetter(first) && utf8.allSatisfy { isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
    }

    public var description: String { rawValue }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

public typealias CollectionName = Name
public typealias FieldName = Name

/// Where a record lives: its space, collection and id.
public struct RecordKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var space: SpaceID
    public var collection: CollectionName
    public var record: RecordID

    public init(space: SpaceID, collection: CollectionName, record: RecordID) {
        self.space = space
        self.collection = collection
        self.record = record
    }

    public var description: String { "\(space)/\(collection)/\(record)" }
    public static func < (a: Self, b: Self) -> Bool {
        (a.space, a.collection, a.record) < (b.space, b.collection, b.record)
    }
}

/// A position in the server's change log: every accepted change gets the next one.
/// A record's version is the position of the last change that touched it; 0 means "never seen".
public typealias Version = Int64

enum Base32 {
    static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    /// 128 bits as 26 characters, most significant first (the top 2 bits of the first character are 0).
    static func encode128(_ high: UInt64, _ low: UInt64) -> String {
        var out = [UInt8](repeating: 0, count: 26)
        var hi = high, lo = low
        for i in stride(from: 25, through: 0, by: -1) {
            out[i] = alphabet[Int(lo & 31)]
            lo = (lo >> 5) | (hi << 59)
            hi >>= 5
        }
        return String(decoding: out, as: UTF8.self)
    }
}
