/// Preset dictionary 1 for zlib (PROTOCOL.md, "Preset dictionary"): the strings that recur in
/// small frames (collection and field names, common words), each written as a wire string
/// (varint length, then UTF-8) so they match the encoded payload byte for byte. zlib prefers
/// matches near the end of a dictionary, so the most frequent strings come last.
/// Changing it is a frame-version change; `Vectors/dictionary-v1.bin` holds the exact bytes.
public enum PresetDictionary {
    public static let v1Words: [String] = [
        "European", "China", "Chinese", "cluster", "clusters", "industrial", "innovation", "technology",
        "development", "province", "zone", "park", "high-tech", "manufacturing", "companies",
        "meeting", "with", "and", "the", "for", "that", "this", "from", "about", "follow up",
        "contact", "visit", "delegation", "partner", "partners", "agreed", "next steps", "mission",
        "field", "entries", "references", "kind", "name", "aliases", "section", "summary", "sectors",
        "website", "https://www.", "conflicts", "kept", "winner", "keptDevice", "keptClock",
        "mutation", "collection", "record", "updatedAt", "createdAt", "author", "links", "tags",
        "body", "title", "notes",
    ]

    /// The dictionary's bytes.
    public static let v1: [UInt8] = {
        var w = WireWriter(capacity: 1024)
        for word in v1Words { w.string(word) }
        return w.bytes
    }()
}
