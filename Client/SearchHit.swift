public import SatchelProtocol

/// One search result: the record, its title, the sentence that matched and its key facts.
public struct SearchHit: Hashable, Sendable {
    public var key: RecordKey
    public var title: String
    /// The sentence that matched, as pieces; `highlighted` pieces are the matched words.
    public var snippet: [(text: String, highlighted: Bool)]
    /// What answers a question without opening the record: for a briefing entry its kind,
    /// place, website and the figures that match best; for a note its author, tags and date.
    public var facts: [String]
    /// How many of the query's words the record holds.
    public var matchedWords: Int
    /// bm25 score: lower is better (compared only between hits with as many matched words).
    public var rank: Double

    /// The snippet with matches wrapped by `mark` (e.g. ANSI bold on a terminal, `[…]` otherwise).
    public func snippet(marking mark: (String) -> String) -> String {
        snippet.map { $0.highlighted ? mark($0.text) : $0.text }.joined()
    }

    public static func == (a: SearchHit, b: SearchHit) -> Bool {
        a.key == b.key && a.title == b.title && a.rank == b.rank && a.facts == b.facts && a.matchedWords == b.matchedWords
            && a.snippet.map(\.text) == b.snippet.map(\.text)
    }
    public func hash(into h: inout Hasher) { h.combine(key) }
}

/// A search's hits and how they were found.
public struct SearchResults: Hashable, Sendable {
    public var hits: [SearchHit]
    /// The words searched for, as typed, without the stop words ("which", "in", "does").
    public var words: [String]
    /// True when too few records held every word and the hits are the best matches for any
    /// of them, most words matched first.
    public var bestMatches: Bool
    /// How many of the hits hold every word.
    public var everyWord: Int

    /// The one line that says a search fell back to best matches, or nil when it did not.
    public var fallbackLine: String? {
        guard bestMatches else { return nil }
        let quoted = "'" + words.joined(separator: " ") + "'"
        switch everyWord {
        case 0: return "no note has every word; showing best matches for \(quoted)"
        case 1: return "one note has every word; then best matches for \(quoted)"
        default: return "only \(everyWord) notes have every word; then best matches for \(quoted)"
        }
    }
}

/// Narrows a search.
public struct SearchFilter: Hashable, Sendable {
    public var space: SpaceID?
    public var collection: CollectionName?
    /// A note tag, or for briefing entries their kind or a sector.
    public var tag: String?
    /// Only notes by this author (case does not matter).
    public var author: String?
    /// Only briefing entries of this kind ("cluster", "zone", "project", …).
    public var kind: String?
    /// Only notes changed at or after this time (milliseconds since 1970); entries have no date.
    public var since: Timestamp?
    public var limit: Int

    public init(
        space: SpaceID? = nil, collection: CollectionName? = nil, tag: String? = nil, author: String? = nil, kind: String? = nil,
        since: Timestamp? = nil, limit: Int = 20
    ) {
        self.space = space
        self.collection = collection
        self.tag = tag
        self.author = author
        self.kind = kind
        self.since = since
        self.limit = limit
    }

    /// Whether anything but the limit narrows the search.
    var narrows: Bool { space != nil || collection != nil || tag != nil || author != nil || kind != nil || since != nil }
}
