/// Why a value, mutation or message was refused: a stable `code` for programs and logs, and a
/// `message` a person can act on. Never carries note bodies or tokens.
public struct Rejection: CodedError, Hashable {
    /// The stable reason, sent on the wire as the rejection's code.
    public let code: RejectionCode
    /// What is wrong and what to do about it.
    public let message: String

    public init(_ code: RejectionCode, _ message: String) { (self.code, self.message) = (code, message) }
}

/// Stable reasons a mutation or value is refused. New codes may be added in later protocol
/// versions; clients must treat an unknown code as a permanent rejection.
public struct RejectionCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public static let invalidIdentifier = Self(rawValue: "invalid_identifier")
    public static let invalidName = Self(rawValue: "invalid_name")
    public static let unknownCollection = Self(rawValue: "unknown_collection")
    public static let unknownField = Self(rawValue: "unknown_field")
    public static let typeMismatch = Self(rawValue: "type_mismatch")
    public static let missingField = Self(rawValue: "missing_field")
    public static let tooLong = Self(rawValue: "too_long")
    public static let invalidValue = Self(rawValue: "invalid_value")
    public static let readOnlyCollection = Self(rawValue: "read_only_collection")
    public static let recordNotFound = Self(rawValue: "record_not_found")
    public static let invalidBaseVersion = Self(rawValue: "invalid_base_version")
    public static let baseExpired = Self(rawValue: "base_expired")
    public static let diffBaseMismatch = Self(rawValue: "diff_base_mismatch")
    public static let invalidDiff = Self(rawValue: "invalid_diff")
    public static let clockTooFarAhead = Self(rawValue: "clock_too_far_ahead")
    public static let forbidden = Self(rawValue: "forbidden")
    public static let wrongDevice = Self(rawValue: "wrong_device")
    /// The mutation id belongs to another device's mutation: send the write again under a new
    /// random id. Never stored, so it changes nothing the other device is told.
    public static let mutationIDTaken = Self(rawValue: "mutation_id_taken")
    /// Another write of the same device already used this mutation counter: two machines share
    /// one device identity (a copied home). Each must join separately; nothing is stored.
    public static let deviceCopied = Self(rawValue: "device_copied")
}
