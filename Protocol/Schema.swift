/// The type a field accepts, with its limits.
public enum FieldType: Hashable, Sendable {
    case string(maxBytes: Int)
    case text(maxBytes: Int)
    case integer
    case number
    case boolean
    case timestamp
    case stringSet(maxCount: Int, maxElementBytes: Int)
    case reference(collection: CollectionName)
    case referenceSet(collection: CollectionName, maxCount: Int)
    /// Any value (used by conflict records, which keep a value of whatever type lost).
    case any

    var isText: Bool { if case .text = self { true } else { false } }
}

/// One field of a collection.
public struct FieldSchema: Hashable, Sendable {
    public var name: FieldName
    public var type: FieldType
    /// Required fields must be present and not null when a record is created.
    public var required: Bool
    /// False for bookkeeping fields (e.g. `updatedAt`) where the later write simply wins and
    /// the losing value is not worth a conflict record the user would have to dismiss.
    public var recordsConflicts: Bool

    public init(_ name: FieldName, _ type: FieldType, required: Bool = false, recordsConflicts: Bool = true) {
        self.name = name
        self.type = type
        self.required = required
        self.recordsConflicts = recordsConflicts
    }
}

/// Which operations devices may send for a collection. Operators bypass this (e.g. loading the briefing).
public struct DeviceAccess: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let create = DeviceAccess(rawValue: 1)
    public static let patch = DeviceAccess(rawValue: 2)
    public static let delete = DeviceAccess(rawValue: 4)
    public static let all: DeviceAccess = [.create, .patch, .delete]
}

/// A collection's fields and what devices may do to it.
public struct CollectionSchema: Hashable, Sendable {
    public var name: CollectionName
    public var fields: [FieldName: FieldSchema]
    public var deviceAccess: DeviceAccess

    public init(_ name: CollectionName, deviceAccess: DeviceAccess = .all, fields: [FieldSchema]) {
        self.name = name
        self.deviceAccess = deviceAccess
        self.fields = Dictionary(uniqueKeysWithValues: fields.map { ($0.name, $0) })
    }
}

/// The collections a server knows. Both sides validate against the same schema.
public struct Schema: Hashable, Sendable {
    public var collections: [CollectionName: CollectionSchema]

    public init(_ collections: [CollectionSchema]) {
        self.collections = Dictionary(uniqueKeysWithValues: collections.map { ($0.name, $0) })
    }

    /// The collection's schema, or a `unknown_collection` error.
    public func collection(_ name: CollectionName) throws(Rejection) -> CollectionSchema {
        guard let c = collections[name] else {
            let known = collections.keys.sorted().map(\.rawValue).joined(separator: ", ")
            throw Rejection(.unknownCollection, "collection '\(name)' does not exist; known collections: \(known)")
        }
        return c
    }

    /// Checks one value against its field's type and limits.
    public func validate(_ value: Value, for field: FieldSchema, in collection: CollectionName) throws(Rejection) {
        let label = "\(collection).\(field.name)"
        func mismatch() -> Rejection {
            Rejection(.typeMismatch, "field \(label) takes \(field.type.expectedName), not a \(value.typeName)")
        }
        func tooLong(_ what: String, _ limit: Int) -> Rejection {
            Rejection(.tooLong, "field \(label): \(what) is over the limit of \(limit); shorten it")
        }
        if case .null = value {
            if field.required { throw Rejection(.missingField, "field \(label) is required and cannot be null") }
            return
        }
        guard value.isCanonical else {
            throw Rejection(.invalidValue, "field \(label): sets must be sorted without duplicates and numbers finite")
        }
        switch (field.type, value) {
        case (.any, _): return
        case (.string(let max), .string(let s)):
            if s.utf8.count > max { throw tooLong("\(s.utf8.count) bytes", max) }
        case (.text(let max), .text(let s)):
            if s.utf8.count > max { throw tooLong("\(s.utf8.count) bytes", max) }
        case (.integer, .integer), (.number, .number), (.boolean, .boolean), (.timestamp, .timestamp):
            return
        case (.stringSet(let maxCount, let maxBytes), .stringSet(let a)):
            if a.count > maxCount { throw tooLong("\(a.count) elements", maxCount) }
            if let long = a.first(where: { $0.utf8.count > maxBytes || $0.isEmpty }) {
                throw Rejection(.invalidValue, "field \(label): element '\(long.prefix(40))' must be 1–\(maxBytes) bytes")
            }
        case (.reference(let target), .reference(let r)):
            if r.collection != target { throw Rejection(.invalidValue, "field \(label) must reference '\(target)', not '\(r.collection)'") }
        case (.referenceSet(let target, let maxCount), .referenceSet(let a)):
            if a.count > maxCount { throw tooLong("\(a.count) references", maxCount) }
            if let bad = a.first(where: { $0.collection != target }) {
                throw Rejection(.invalidValue, "field \(label) must reference '\(target)', not '\(bad.collection)'")
            }
        default:
            throw mismatch()
        }
    }

    /// Checks the values a mutation carries (text diffs are checked after they are applied).
    public func validate(_ mutation: Mutation) throws(Rejection) {
        let c = try collection(mutation.key.collection)
        for (name, change) in mutation.changes {
            guard let field = c.fields[name] else {
                let known = c.fields.keys.sorted().map(\.rawValue).joined(separator: ", ")
                throw Rejection(.unknownField, "collection '\(c.name)' has no field '\(name)'; its fields are: \(known)")
            }
            switch change {
            case .set(let v): try validate(v, for: field, in: c.name)
            case .setDelta(let add, let remove):
                switch (field.type, add, remove) {
                case (.stringSet, .stringSet, .stringSet), (.referenceSet, .referenceSet, .referenceSet):
                    try validate(add, for: field, in: c.name)
                    try validate(remove, for: field, in: c.name)
                default:
                    throw Rejection(.typeMismatch, "field \(c.name).\(name) takes set deltas only of its own set type")
                }
                if mutation.operation == .create {
                    throw Rejection(.invalidDiff, "a create must send full values, not deltas (field \(c.name).\(name))")
                }
            case .textDiff:
                guard field.type.isText else {
                    throw Rejection(.typeMismatch, "field \(c.name).\(name) is not text, so it cannot take a text diff")
                }
                if mutation.operation == .create {
                    throw Rejection(.invalidDiff, "a create must send full values, not diffs (field \(c.name).\(name))")
                }
            }
        }
        switch mutation.operation {
        case .create:
            for field in c.fields.values where field.required {
                if mutation.changes[field.name] == nil {
                    throw Rejection(.missingField, "creating a record in '\(c.name)' needs field '\(field.name)'")
                }
            }
        case .patch:
            if mutation.changes.isEmpty {
                throw Rejection(.invalidValue, "a patch must change at least one field")
            }
        case .delete:
            if !mutation.changes.isEmpty {
                throw Rejection(.invalidValue, "a delete carries no field changes")
            }
        }
    }

    /// Checks that a device may send this operation to the collection.
    public func checkDeviceAccess(_ mutation: Mutation) throws(Rejection) {
        let c = try collection(mutation.key.collection)
        let needed: DeviceAccess = switch mutation.operation {
        case .create: .create
        case .patch: .patch
        case .delete: .delete
        }
        guard c.deviceAccess.contains(needed) else {
            throw Rejection(
                .readOnlyCollection,
                "devices cannot \(mutation.operation.rawValue) records in '\(c.name)'; only an operator can change it")
        }
    }
}

extension FieldType {
    var expectedName: String {
        switch self {
        case .string: "a string"
        case .text: "text"
        case .integer: "an integer"
        case .number: "a number"
        case .boolean: "a boolean"
        case .timestamp: "a timestamp"
        case .stringSet: "a string set"
        case .reference: "a reference"
        case .referenceSet: "a reference set"
        case .any: "any value"
        }
    }
}
