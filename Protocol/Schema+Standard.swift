extension CollectionName {
    /// Field notes written on devices.
    public static let notes: CollectionName = "notes"
    /// Read-only reference entries (the mission briefing), changed only by operators.
    public static let entries: CollectionName = "entries"
    /// Conflict records the server writes when concurrent edits cannot both win.
    public static let conflicts: CollectionName = "conflicts"
}

extension Schema {
    /// The collections every Satchel server and client know (protocol version 1).
    public static let standard = Schema([
        CollectionSchema(.notes, fields: [
            FieldSchema("title", .string(maxBytes: 500), required: true),
            FieldSchema("body", .text(maxBytes: 256 * 1024)),
            FieldSchema("tags", .stringSet(maxCount: 64, maxElementBytes: 64)),
            FieldSchema("links", .referenceSet(collection: .entries, maxCount: 256)),
            FieldSchema("author", .string(maxBytes: 200)),
            FieldSchema("createdAt", .timestamp),
            FieldSchema("updatedAt", .timestamp, recordsConflicts: false),
        ]),
        CollectionSchema(.entries, deviceAccess: [], fields: [
            FieldSchema("kind", .string(maxBytes: 40), required: true),
            FieldSchema("name", .string(maxBytes: 500), required: true),
            FieldSchema("aliases", .stringSet(maxCount: 64, maxElementBytes: 200)),
            FieldSchema("section", .string(maxBytes: 200)),
            FieldSchema("summary", .text(maxBytes: 64 * 1024)),
            FieldSchema("city", .string(maxBytes: 200)),
            FieldSchema("province", .string(maxBytes: 200)),
            FieldSchema("cities", .stringSet(maxCount: 128, maxElementBytes: 200)),
            FieldSchema("sectors", .stringSet(maxCount: 64, maxElementBytes: 200)),
            FieldSchema("year", .integer),
            FieldSchema("years", .string(maxBytes: 40)),
            FieldSchema("website", .string(maxBytes: 500)),
            FieldSchema("companies", .stringSet(maxCount: 128, maxElementBytes: 200)),
            FieldSchema("figures", .stringSet(maxCount: 128, maxElementBytes: 1000)),
            FieldSchema("related", .referenceSet(collection: .entries, maxCount: 256)),
        ]),
        // Devices resolve a conflict by deleting its record (after writing the value they chose).
        CollectionSchema(.conflicts, deviceAccess: [.delete], fields: [
            FieldSchema("kind", .string(maxBytes: 40), required: true),
            FieldSchema("collection", .string(maxBytes: 40), required: true),
            FieldSchema("record", .string(maxBytes: 64), required: true),
            FieldSchema("field", .string(maxBytes: 40)),
            FieldSchema("kept", .any),
            FieldSchema("winner", .any),
            FieldSchema("keptDevice", .string(maxBytes: 64)),
            FieldSchema("keptClock", .integer),
            FieldSchema("mutation", .string(maxBytes: 64), required: true),
        ]),
    ])
}
