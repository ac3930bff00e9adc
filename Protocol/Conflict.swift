/// Why two writes could not both win.
public enum ConflictKind: String, Hashable, Sendable, CaseIterable {
    /// The same field written concurrently (scalar, or text/set whose base is known): the later
    /// stamp won, `kept` holds the other value.
    case field
    /// Concurrent text edits overlapped: the later stamp's text won, `kept` holds the other text.
    case text
    /// The mutation's base is older than the history the server keeps, so its edit could not be
    /// merged; the later stamp won, `kept` holds the other value.
    case staleBase = "stale_base"
    /// An edit arrived for a record deleted concurrently: the edit revived it.
    case editRevived = "edit_revived"
    /// A delete arrived for a record edited concurrently: the record was kept.
    case deleteRefused = "delete_refused"
}

/// What a merge set aside so nothing is lost. The server stores each as a record in the space's
/// `conflicts` collection; a device resolves it by writing the value it wants and deleting it.
public struct Conflict: Hashable, Sendable {
    public var kind: ConflictKind
    /// The field concerned; nil for the record-level kinds (delete against edit).
    public var field: FieldName?
    /// The value that did not win (null for a delete that lost).
    public var kept: Value
    /// The value now in the record.
    public var winner: Value
    /// Who wrote `kept`, and when.
    public var keptStamp: Stamp

    public init(kind: ConflictKind, field: FieldName?, kept: Value, winner: Value, keptStamp: Stamp) {
        self.kind = kind
        self.field = field
        self.kept = kept
        self.winner = winner
        self.keptStamp = keptStamp
    }

    /// The conflict as the fields of a `conflicts` record about `key`, caused by `mutation`.
    public func recordFields(about key: RecordKey, mutation: MutationID) -> [FieldName: Value] {
        var f: [FieldName: Value] = [
            "kind": .string(kind.rawValue),
            "collection": .string(key.collection.rawValue),
            "record": .string(key.record.rawValue),
            "kept": kept,
            "winner": winner,
            "keptDevice": .string(keptStamp.device.rawValue),
            "keptClock": .integer(Int64(bitPattern: keptStamp.clock.rawValue)),
            "mutation": .string(mutation.rawValue),
        ]
        if let field { f["field"] = .string(field.rawValue) }
        return f
    }

    /// The id of the `index`th conflict record a mutation produced: derived, so a retried
    /// mutation can never create it twice.
    public static func recordID(for mutation: MutationID, index: Int) -> RecordID {
        RecordID(unchecked: "\(mutation.rawValue.prefix(56)).c\(index)")
    }
}
