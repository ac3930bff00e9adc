import SatchelProtocol
import SatchelSQLite

/// The FTS5 index over what the user sees: notes (title, body, author and tags) and briefing
/// entries (name and aliases, summary, places, sectors, companies, figures), each column holding
/// the text's terms (`SearchTerms.indexed`: folded spellings, stems) rather than the text.
/// Conflict records are not indexed. The text itself, for snippets and facts, is read from the
/// record's view for the few hits shown.
enum SearchIndex {
    /// The table, as migration 7 (`SearchIndex+Rebuild.swift`) creates it. Beside the three
    /// indexed columns, what the filters test: tags as "\u{1}a\u{1}b\u{1}", author and kind
    /// lowercased, and a note's last change (milliseconds; NULL for entries).
    static let createTable = """
        CREATE VIRTUAL TABLE search USING fts5(
            title, body, extra,
            space UNINDEXED, collection UNINDEXED, record UNINDEXED, tags UNINDEXED,
            author UNINDEXED, kind UNINDEXED, updated UNINDEXED,
            tokenize = 'unicode61 remove_diacritics 2'
        )
        """

    static func update(_ db: Database, id: Int64, key: RecordKey, view: [FieldName: Value]?) throws {
        let rowid = rowid(of: id, key.collection)
        try db.run("DELETE FROM search WHERE rowid = ?", rowid)
        guard let view, key.collection != .conflicts else { return }
        let text = { (name: FieldName) in Self.text(view, name) }
        let title, body, extra: String
        let tags: [String]
        var author: String?, kind: String?, updated: Int64?
        if key.collection == .entries {
            title = ([text("name")] + set(view, "aliases")).joined(separator: " · ")
            body = text("summary")
            extra = ["section", "city", "province", "cities", "sectors", "companies", "figures", "website", "year", "years"]
                .map { text(FieldName(stringLiteral: $0)) }.filter { !$0.isEmpty }.joined(separator: " · ")
            tags = [text("kind")] + set(view, "sectors")
            kind = text("kind").lowercased()
        } else {
            title = text("title")
            body = text("body")
            extra = ([text("author")] + set(view, "tags")).joined(separator: " ")
            tags = set(view, "tags")
            author = text("author").lowercased()
            if case .timestamp(let t)? = view["updatedAt"] { updated = t }
        }
        try db.run(
            """
            INSERT INTO search (rowid, title, body, extra, space, collection, record, tags, author, kind, updated)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            arguments: [
                rowid, SearchTerms.indexed(title), SearchTerms.indexed(body), SearchTerms.indexed(extra),
                key.space.rawValue, key.collection.rawValue, key.record.rawValue,
                "\u{1}" + tags.map { $0.lowercased() }.joined(separator: "\u{1}") + "\u{1}", author, kind, updated,
            ])
    }

    static func text(_ view: [FieldName: Value], _ name: FieldName) -> String {
        switch view[name] {
        case .string(let s)?, .text(let s)?: return s
        case .stringSet(let a)?: return a.joined(separator: " · ")
        case .integer(let i)?: return String(i)
        default: return ""
        }
    }

    static func set(_ view: [FieldName: Value], _ name: FieldName) -> [String] {
        if case .stringSet(let a)? = view[name] { a } else { [] }
    }

    /// Rows of a search ranked by bm25 at most, for notes: beyond this many matches a query is
    /// common, and ranking every match (bm25 reads each one's positions and length) is what
    /// makes a search slow. Then the newest this many are ranked, with every reference entry
    /// and every older note whose title matches. Bounding the work this way keeps a search's
    /// time flat as notes accumulate; 1,000 newest matches is more than anyone reads through.
    static let rankedNotes = 1_000

    /// Below this many records holding every word, a search shows the best matches for any of
    /// them instead (those holding every word still come first).
    static let tooFew = 3

    static func search(_ db: Database, _ text: String, filter: SearchFilter) throws -> SearchResults {
        let query = SearchQuery(text)
        guard !query.isEmpty else { return SearchResults(hits: [], words: [], bestMatches: false, everyWord: 0) }
        let words = query.phrases.count
        var found = try ranked(db, query.fts(all: true), words: words, every: true, filter: filter, limit: filter.limit + 20)
        var bestMatches = false
        if found.count < min(tooFew, filter.limit), words > 1 {
            found = try ranked(db, query.fts(all: false), words: words, every: false, filter: filter, limit: filter.limit + 20)
            bestMatches = true
        }
        var hits: [(hit: SearchHit, view: [FieldName: Value], names: [String])] = []
        for candidate in found {
            // Read by id alone: no second MATCH per hit.
            let id = candidate.rowid >= entryRowids ? candidate.rowid - entryRowids : candidate.rowid
            guard let row = try db.query("SELECT space, collection, record, view FROM records WHERE id = ? AND view IS NOT NULL", id, map: {
                (RecordKey(space: SpaceID(unchecked: $0.string(at: 0)), collection: Name(stringLiteral: $0.string(at: 1)), record: RecordID(unchecked: $0.string(at: 2))),
                 try FieldValues.decode($0.blob(at: 3)))
            }).first else { continue }
            let (key, view) = row
            let names = key.collection == .entries ? [Self.text(view, "name")] + set(view, "aliases") : [Self.text(view, "title")]
            hits.append((SearchHit(key: key, title: names[0], snippet: [], facts: [], matchedWords: candidate.matched, rank: candidate.score), view, names))
        }
        // A title, name or alias equal to the query beats any score: typing "Z-Park" or "MoST"
        // should give that entry first, not the one that mentions it most.
        let wanted = normalized(text)
        let isExact = { (names: [String]) in names.contains { normalized($0) == wanted } }
        let ordered = hits.filter { isExact($0.names) } + hits.filter { !isExact($0.names) }
        let shown = ordered.prefix(filter.limit).map { found in
            var hit = found.hit
            // The sentence that answers is in the summary or body; names and aliases only
            // when nothing else holds the words.
            let texts = found.hit.key.collection == .entries
                ? [Self.text(found.view, "summary")] + set(found.view, "figures") + [Self.text(found.view, "name")] + set(found.view, "aliases")
                : [Self.text(found.view, "body"), Self.text(found.view, "title")]
            hit.snippet = Snippet.make(texts: texts, query: query)
            hit.facts = KeyFacts.of(found.hit.key.collection, found.view, query: query, snippet: hit.snippet.map(\.text).joined())
            return hit
        }
        return SearchResults(hits: shown, words: query.words, bestMatches: bestMatches, everyWord: shown.filter { $0.matchedWords == words }.count)
    }

    /// The best `limit` rowids for `query`, most words matched first, then by bm25 (lower is
    /// better). With `every`, every row holds all `words` and `matched` is not computed.
    static func ranked(
        _ db: Database, _ query: String, words: Int, every: Bool, filter: SearchFilter, limit: Int
    ) throws -> [(rowid: Int64, matched: Int, score: Double)] {
        let matched = every ? "\(words)" : "matched(search)"
        let score = "bm25(search, 10.0, 1.0, 3.0)"
        func rank(_ match: String, _ range: String, _ bounds: [Int64]) throws -> [(rowid: Int64, matched: Int, score: Double)] {
            let (conditions, arguments) = conditions(filter)
            return try db.query(
                """
                SELECT rowid, \(matched) AS m, \(score) AS score FROM search
                WHERE search MATCH ? AND \(range)\(conditions)
                ORDER BY m DESC, score LIMIT ?
                """,
                arguments: [match] + bounds + arguments + [limit]
            ) { ($0.int64(at: 0), $0.int(at: 1), $0.double(at: 2)) }
        }
        // A filtered search ranks every match that passes the filter: the bound below counts
        // matches anywhere, and would cut off a narrow filter's older notes.
        if filter.narrows {
            return try rank(query, "rowid >= ?", [Int64.min])
        }
        // Entries sit above every note (`rowid(of:)`), so one pass in descending rowid order
        // takes every matching entry, then the newest notes, with their scores (FTS5 walks
        // rowids in order, so bm25 is computed for these rows only). Every pass re-merges the
        // doclists of all the words the query's prefix matches: fewer passes is what counts.
        let entries = try db.query("SELECT count(*) FROM search WHERE rowid >= ?", entryRowids) { $0.int(at: 0) }[0]
        let newest = try db.query(
            "SELECT rowid, \(matched), \(score) FROM search WHERE search MATCH ? ORDER BY rowid DESC LIMIT ?", query, rankedNotes + entries
        ) { (rowid: $0.int64(at: 0), matched: $0.int(at: 1), score: $0.double(at: 2)) }
        var candidates = newest
        if newest.count == rankedNotes + entries, let threshold = newest.last?.rowid {
            // A common word: older notes by title.
            candidates += try rank("{title} : (\(query))", "rowid > 0 AND rowid < ?", [threshold])
        }
        return Array(candidates.sorted { ($0.matched, -$0.score) > ($1.matched, -$1.score) }.prefix(limit))
    }

    /// The filter as SQL conditions on the index's columns, with their arguments.
    static func conditions(_ filter: SearchFilter) -> (String, [(any DatabaseValueConvertible)?]) {
        var sql = "", arguments: [(any DatabaseValueConvertible)?] = []
        func add(_ condition: String, _ value: any DatabaseValueConvertible) {
            sql += " AND " + condition
            arguments.append(value)
        }
        if let space = filter.space { add("space = ?", space.rawValue) }
        if let collection = filter.collection { add("collection = ?", collection.rawValue) }
        if let tag = filter.tag { add("instr(tags, ?) > 0", "\u{1}" + tag.lowercased() + "\u{1}") }
        if let author = filter.author { add("author = ?", author.lowercased()) }
        if let kind = filter.kind { add("kind = ?", kind.lowercased()) }
        if let since = filter.since { add("updated >= ?", since) }
        return (sql, arguments)
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
