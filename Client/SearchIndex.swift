public import SatchelProtocol
import Foundation
import SatchelSQLite

/// One search result: the record, its title, and a snippet with the matched words marked.
public struct SearchHit: Hashable, Sendable {
    public var key: RecordKey
    public var title: String
    /// The snippet as pieces; `highlighted` pieces are the matched words.
    public var snippet: [(text: String, highlighted: Bool)]
    /// bm25 score: lower is better.
    public var rank: Double

    /// The snippet with matches wrapped by `mark` (e.g. ANSI bold on a terminal, `[…]` otherwise).
    public func snippet(marking mark: (String) -> String) -> String {
        snippet.map { $0.highlighted ? mark($0.text) : $0.text }.joined()
    }

    public static func == (a: SearchHit, b: SearchHit) -> Bool {
        a.key == b.key && a.title == b.title && a.rank == b.rank && a.snippet.map(\.text) == b.snippet.map(\.text)
    }
    public func hash(into h: inout Hasher) { h.combine(key) }
}

/// Narrows a search.
public struct SearchFilter: Hashable, Sendable {
    public var space: SpaceID?
    public var collection: CollectionName?
    /// A note tag, or for briefing entries their kind or a sector.
    public var tag: String?
    public var limit: Int

    public init(space: SpaceID? = nil, collection: CollectionName? = nil, tag: String? = nil, limit: Int = 20) {
        self.space = space
        self.collection = collection
        self.tag = tag
        self.limit = limit
    }
}

/// The FTS5 index over what the user sees: notes (title, body, tags) and briefing entries
/// (name and aliases, summary, places, sectors, companies, figures). Conflict records are not indexed.
enum SearchIndex {
    static func update(_ db: Database, id: Int64, key: RecordKey, view: [FieldName: Value]?) throws {
        let rowid = rowid(of: id, key.collection)
        try db.run("DELETE FROM search WHERE rowid = ?", rowid)
        guard let view, key.collection != .conflicts else { return }
        func text(_ name: FieldName) -> String {
            switch view[name] {
            case .string(let s)?, .text(let s)?: return s
            case .stringSet(let a)?: return a.joined(separator: " · ")
            case .integer(let i)?: return String(i)
            default: return ""
            }
        }
        func set(_ name: FieldName) -> [String] { if case .stringSet(let a)? = view[name] { a } else { [] } }
        let title, body, extra: String
        let tags: [String]
        if key.collection == .entries {
            title = ([text("name")] + set("aliases")).joined(separator: " · ")
            body = text("summary")
            extra = ["kind", "section", "city", "province", "cities", "sectors", "companies", "figures", "website", "year", "years"]
                .map { text(FieldName(stringLiteral: $0)) }.filter { !$0.isEmpty }.joined(separator: " · ")
            tags = [text("kind")] + set("sectors")
        } else {
            title = text("title")
            body = text("body")
            extra = ([text("author")] + set("tags")).joined(separator: " ")
            tags = set("tags")
        }
        try db.run(
            "INSERT INTO search (rowid, title, body, extra, space, collection, record, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rowid, title, body, extra, key.space.rawValue, key.collection.rawValue, key.record.rawValue,
            "\u{1}" + tags.map { $0.lowercased() }.joined(separator: "\u{1}") + "\u{1}")
    }

    /// The user's words as an FTS5 query: every word must match (as a prefix of the last), and
    /// punctuation inside a word ("Z-Park") makes a phrase. Nil when there is nothing to search.
    static func ftsQuery(_ text: String) -> String? {
        let words = text.split(whereSeparator: { $0.isWhitespace }).map { $0.replacingOccurrences(of: "\"", with: "\"\"") }
            .filter { $0.contains { $0.isLetter || $0.isNumber } }
        guard !words.isEmpty else { return nil }
        return words.map { "\"\($0)\"*" }.joined(separator: " ")
    }

    /// Rows of a search ranked by bm25 at most, for notes: beyond this many matches a query is
    /// common, and ranking every match (bm25 reads each one's positions and length) is what
    /// makes a search slow. Then the newest this many are ranked, with every reference entry
    /// and every older note whose title matches. Bounding the work this way keeps a search's
    /// time flat as notes accumulate; 1,000 newest matches is more than anyone reads through.
    static let rankedNotes = 1_000

    static func search(_ db: Database, _ text: String, filter: SearchFilter) throws -> [SearchHit] {
        guard let query = ftsQuery(text) else { return [] }
        var hits: [(hit: SearchHit, names: [String], texts: [String])] = []
        for (rowid, score) in try ranked(db, query, filter: filter, limit: filter.limit + 20) {
            // Read by rowid alone: no second MATCH per hit.
            guard let row = try db.query("SELECT space, collection, record, title, body, extra FROM search WHERE rowid = ?", rowid, map: {
                ($0.string(at: 0), $0.string(at: 1), $0.string(at: 2), $0.string(at: 3), $0.string(at: 4), $0.string(at: 5))
            }).first else { continue }
            let names = row.3.components(separatedBy: " · ")
            hits.append((SearchHit(
                key: RecordKey(space: SpaceID(unchecked: row.0), collection: Name(stringLiteral: row.1), record: RecordID(unchecked: row.2)),
                title: names.first ?? "", snippet: [], rank: score), names, [row.4, row.5, row.3]))
        }
        // A title, name or alias equal to the query beats any score: typing "Z-Park" or "MoST"
        // should give that entry first, not the one that mentions it most.
        let wanted = normalized(text)
        let exact = hits.filter { $0.names.contains { normalized($0) == wanted } }
        let rest = hits.filter { !$0.names.contains { normalized($0) == wanted } }
        let terms = Snippet.terms(of: text)
        return (exact + rest).prefix(filter.limit).map { found in
            var hit = found.hit
            hit.snippet = Snippet.make(texts: found.texts, terms: terms)
            return hit
        }
    }

    /// The best `limit` rowids for `query` with their bm25 scores (lower is better).
    static func ranked(_ db: Database, _ query: String, filter: SearchFilter, limit: Int) throws -> [(rowid: Int64, score: Double)] {
        func rank(_ match: String, _ range: String, _ bounds: Int64...) throws -> [(rowid: Int64, score: Double)] {
            try db.query(
                """
                SELECT rowid, bm25(search, 10.0, 1.0, 3.0) AS score FROM search
                WHERE search MATCH ? AND \(range)
                  AND (? IS NULL OR space = ?)
                  AND (? IS NULL OR collection = ?)
                  AND (? IS NULL OR instr(tags, ?) > 0)
                ORDER BY score LIMIT ?
                """,
                arguments: [match] + bounds + [
                    filter.space?.rawValue, filter.space?.rawValue,
                    filter.collection?.rawValue, filter.collection?.rawValue,
                    filter.tag, filter.tag.map { "\u{1}" + $0.lowercased() + "\u{1}" }, limit,
                ]
            ) { ($0.int64(at: 0), $0.double(at: 1)) }
        }
        // A filtered search ranks every match that passes the filter: the bound below counts
        // matches anywhere, and would cut off a narrow filter's older notes.
        if filter.space != nil || filter.collection != nil || filter.tag != nil {
            return try rank(query, "rowid >= ?", Int64.min)
        }
        // Entries sit above every note (`rowid(of:)`), so one pass in descending rowid order
        // takes every matching entry, then the newest notes, with their scores (FTS5 walks
        // rowids in order, so bm25 is computed for these rows only). Every pass re-merges the
        // doclists of all the words the query's prefix matches: fewer passes is what counts.
        let entries = try db.query("SELECT count(*) FROM search WHERE rowid >= ?", entryRowids) { $0.int(at: 0) }[0]
        let newest = try db.query(
            "SELECT rowid, bm25(search, 10.0, 1.0, 3.0) FROM search WHERE search MATCH ? ORDER BY rowid DESC LIMIT ?", query, rankedNotes + entries
        ) { (rowid: $0.int64(at: 0), score: $0.double(at: 1)) }
        var candidates = newest
        if newest.count == rankedNotes + entries, let threshold = newest.last?.rowid {
            // A common word: older notes by title.
            candidates += try rank("{title} : (\(query))", "rowid > 0 AND rowid < ?", threshold)
        }
        return Array(candidates.sorted { $0.score < $1.score }.prefix(limit))
    }

    /// Where reference entries' full-text rowids start: above every note's.
    static let entryRowids: Int64 = 1 << 62

    /// The full-text rowid of a record: its `records.id`, moved above every note for reference
    /// entries, so that one pass over the newest rowids takes every entry and the newest notes.
    static func rowid(of id: Int64, _ collection: CollectionName) -> Int64 {
        collection == .entries ? entryRowids + id : id
    }

    static func normalized(_ s: String) -> String {
        s.lowercased().filter { $0.isLetter || $0.isNumber }
    }
}
