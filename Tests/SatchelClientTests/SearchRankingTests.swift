import Foundation
import SatchelProtocol
import SatchelSQLite
import SatchelTestSupport
import Testing
@testable import SatchelClient

/// Search over many notes: common words rank a bounded set, snippets are built without a second
/// match, and reference entries keep their place.
@Suite struct SearchRankingTests {
    let dir = TemporaryDirectory()

    func note(_ id: String, title: String, body: String) -> LocalRecord {
        let view: [FieldName: Value] = ["title": .string(title), "body": .text(body), "tags": .stringSet(["x"])]
        return LocalRecord(key: RecordKey(space: "mission", collection: .notes, record: RecordID(unchecked: id)), confirmedVersion: 1, confirmed: view, view: view)
    }

    @Test func aCommonWordStillFindsOlderTitleMatchesAndReferenceEntries() throws {
        var storage = try SQLiteReplicaStorage(path: dir.file("device.sqlite"))
        let common = SearchIndex.rankedNotes + 300
        try storage.inTransaction { s in
            // The reference entry and the best note are the oldest rows.
            try s.saveRecord(LocalRecord(
                key: RecordKey(space: "briefing", collection: .entries, record: "cluster-lithium"), confirmedVersion: 1,
                view: ["name": .string("Lithium Valley"), "summary": .text("Battery makers around lithium mines.")]))
            try s.saveRecord(note("old-title", title: "Lithium supply chain", body: "Visited the plant; lithium prices are rising."))
            try s.saveRecord(note("old-rare", title: "Tea", body: "The tea at the Pudong office was excellent. lithium once."))
            for i in 0..<common {
                try s.saveRecord(note("n\(i)", title: "Note \(i)", body: "Talked about lithium and many other subjects at meeting \(i), some of them long."))
            }
        }
        let db = try Database(path: dir.file("device.sqlite"))
        defer { db.close() }
        let hits = try SearchIndex.search(db, "lithium", filter: SearchFilter(limit: 20)).hits
        #expect(hits.count == 20)
        let ids = hits.map(\.key.record.rawValue)
        // Older than the newest ranked notes, yet found: by title, and as a reference entry.
        #expect(ids.prefix(3).contains("old-title"))
        #expect(ids.contains("cluster-lithium"))
        // An old note that only mentions the word is not ranked against the newest thousands.
        #expect(!ids.contains("old-rare"))
        // A rare word is ranked over every note, however old.
        #expect(try SearchIndex.search(db, "pudong", filter: SearchFilter()).hits.map(\.key.record.rawValue) == ["old-rare"])
        // Filters apply to every part.
        #expect(try SearchIndex.search(db, "lithium", filter: SearchFilter(collection: .entries)).hits.map(\.key.record.rawValue) == ["cluster-lithium"])
        let snippet = hits.first { $0.key.record.rawValue == "old-title" }!.snippet(marking: { "[\($0)]" })
        #expect(snippet == "Visited the plant; [lithium] prices are rising.")
    }

    @Test func snippetsMarkPrefixMatchesInTheBestClause() {
        let query = SearchQuery("Zürich incub")
        #expect(query.phrases == [["zurich"], ["incub"]])
        let body = "One two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen; Zurich hosts incubators, ZÜRICH again."
        let pieces = Snippet.make(texts: [body], query: query, maxWords: 6)
        let marked = pieces.map { $0.highlighted ? "<\($0.text)>" : $0.text }.joined()
        #expect(marked == "…<Zurich> hosts <incubators>, <ZÜRICH> again.")
        // The body wins ties; the title is used when only it matches.
        #expect(Snippet.make(texts: ["nothing here", "", "Zürich notes"], query: query).map(\.text).joined() == "Zürich notes")
        #expect(Snippet.make(texts: ["", ""], query: query).isEmpty)
    }

    @Test func aVersionTwoIndexMovesItsEntriesApartAndStillFindsThem() throws {
        let path = dir.file("old.sqlite")
        do {
            let db = try Database(path: path)
            _ = try Migrator(Array(SQLiteReplicaStorage.migrator.migrations.prefix(2))).migrate(db)
            let entry: [FieldName: Value] = ["kind": .string("organisation"), "name": .string("Ministry of Science and Technology"), "aliases": .stringSet(["MoST"])]
            let note: [FieldName: Value] = ["title": .string("Science note"), "body": .text("Met the ministry.")]
            try db.run("INSERT INTO records (space, collection, record, confirmed_version, view) VALUES ('briefing', 'entries', 'org-most', 1, ?)", FieldValues.encode(entry))
            try db.run("INSERT INTO records (space, collection, record, confirmed_version, view) VALUES ('mission', 'notes', 'n1', 1, ?)", FieldValues.encode(note))
            try db.run("INSERT INTO search (rowid, title, body, extra, space, collection, record, tags) VALUES (1, 'Ministry of Science and Technology · MoST', 'Funds national programmes.', '', 'briefing', 'entries', 'org-most', '')")
            try db.run("INSERT INTO search (rowid, title, body, extra, space, collection, record, tags) VALUES (2, 'Science note', 'Met the ministry.', '', 'mission', 'notes', 'n1', '')")
            db.close()
        }
        let storage = try SQLiteReplicaStorage(path: path)
        let rows = try storage.db.query("SELECT rowid, record FROM search ORDER BY rowid") { "\($0.int64(at: 0)):\($0.string(at: 1))" }
        // Migration 3 moved the entry to -1, migration 6 above every note, and migration 7
        // rebuilt the index from the records, at the same rowids.
        #expect(rows == ["2:n1", "\(SearchIndex.entryRowids + 1):org-most"])
        #expect(try SearchIndex.search(storage.db, "ministry", filter: SearchFilter()).hits.map(\.key.record.rawValue).sorted() == ["n1", "org-most"])
        // Saving the entry again replaces its row rather than adding one.
        var s = storage
        try s.saveRecord(LocalRecord(key: RecordKey(space: "briefing", collection: .entries, record: "org-most"), confirmedVersion: 2, view: ["name": .string("MoST")]))
        #expect(try storage.db.query("SELECT count(*) FROM search WHERE record = 'org-most'") { $0.int64(at: 0) } == [1])
        storage.close()
    }
}
