import Foundation
import SatchelProtocol
import SatchelSQLite
import SatchelTestSupport
import Testing
@testable import SatchelClient

/// Search answering a delegate's questions over the real briefing, offline: the question set
/// of `Fixtures/search-questions.txt`, the fallback to best matches, sentences and facts under
/// hits, the filters, and the index rebuilt when an older device opens its store.
@Suite struct SearchQualityTests {
    let dir = TemporaryDirectory()

    func store() throws -> SQLiteReplicaStorage {
        let path = dir.file("device.sqlite")
        try SearchFixture.fill(path)
        return try SQLiteReplicaStorage(path: path)
    }

    @Test func everyQuestionFindsItsEntryInTheTopThree() throws {
        let storage = try store()
        defer { storage.close() }
        let questions = try SearchFixture.questions()
        #expect(questions.count >= 25)
        var missed: [String] = []
        for (entry, question) in questions {
            let top = try SearchIndex.search(storage.db, question, filter: SearchFilter(limit: 3)).hits.map(\.key.record.rawValue)
            if !top.contains(entry) { missed.append("\(question) → \(top), wanted \(entry)") }
        }
        print("search quality: \(questions.count - missed.count) of \(questions.count) questions find their entry in the top 3")
        #expect(missed.isEmpty, "\(missed.joined(separator: "\n"))")
    }

    @Test func aQuestionWithNoRecordHoldingEveryWordFallsBackToBestMatches() throws {
        let storage = try store()
        defer { storage.close() }
        let found = try SearchIndex.search(storage.db, "which cluster in Wuhan does optical fibre", filter: SearchFilter(collection: .entries))
        #expect(found.words == ["cluster", "Wuhan", "optical", "fibre"])
        let top = try #require(found.hits.first)
        #expect(top.key.record == "cluster-wuhan-east-lake-fibre-optical-cable")
        // Most words matched first.
        #expect(found.hits.map(\.matchedWords) == found.hits.map(\.matchedWords).sorted(by: >))
        if found.bestMatches { #expect(found.fallbackLine?.contains("best matches for 'cluster Wuhan optical fibre'") == true) }
        // "cities" finds "city", "smart" "smart": every word, no fallback.
        let cities = try SearchIndex.search(storage.db, "smart cities", filter: SearchFilter(collection: .entries))
        #expect(!cities.bestMatches)
        #expect(cities.hits.contains { $0.key.record == "policy-smart-city-pilots" })
        // Words nothing holds together: best matches, said so.
        let mixed = try SearchIndex.search(storage.db, "denim photovoltaic", filter: SearchFilter())
        #expect(mixed.bestMatches && mixed.everyWord == 0)
        #expect(mixed.fallbackLine == "no note has every word; showing best matches for 'denim photovoltaic'")
        #expect(Set(mixed.hits.prefix(2).map(\.key.record.rawValue)).isSuperset(of: ["cluster-guangzhou-denim-clothing"]))
    }

    @Test func aHitShowsTheMatchingSentenceAndTheEntrysFacts() throws {
        let storage = try store()
        defer { storage.close() }
        let hit = try #require(try SearchIndex.search(storage.db, "largest fiber optic cable manufacturing base", filter: SearchFilter()).hits.first)
        #expect(hit.key.record == "zone-wuhan-east-lake-high-tech-zone")
        let snippet = hit.snippet(marking: { "[\($0)]" })
        #expect(snippet.contains("the [largest] [optical] [fibre] and [cable] [manufacturing] [base] in China"))
        #expect(hit.facts.first == "zone")
        #expect(hit.facts.contains { $0.hasPrefix("Wuhan") })
        // An entry whose summary is generic: the sentence still comes from the summary, not the
        // alias list, and the facts carry the place.
        let wuxi = try #require(try SearchIndex.search(storage.db, "Wuxi internet of things", filter: SearchFilter()).hits.first)
        #expect(wuxi.key.record == "cluster-wuxi-iot")
        #expect(!wuxi.snippet(marking: { $0 }).contains(" · "))
        #expect(wuxi.facts.contains("Wuxi"))
        // A figure that answers is among the facts.
        let nev = try #require(try SearchIndex.search(storage.db, "NEV sales 2018", filter: SearchFilter(kind: "sector")).hits.first)
        #expect(nev.key.record == "sector-automotive")
        #expect((nev.snippet(marking: { $0 }) + nev.facts.joined()).contains("NEV sales 2018"))
        // A note's facts: author and tags.
        let note = try #require(try SearchIndex.search(storage.db, "optics valley", filter: SearchFilter(collection: .notes)).hits.first)
        #expect(note.facts == ["by ana", "#optics #wuhan"])
    }

    @Test func filtersNarrowBySpaceTagAuthorKindAndDate() throws {
        let storage = try store()
        defer { storage.close() }
        func ids(_ q: String, _ f: SearchFilter) throws -> Set<String> {
            Set(try SearchIndex.search(storage.db, q, filter: f).hits.map(\.key.record.rawValue))
        }
        let smart = try ids("smart", SearchFilter(limit: 100))
        #expect(smart.isSuperset(of: ["note-smart", "note-old", "policy-smart-city-pilots", "project-sieugreen"]))
        #expect(try ids("smart", SearchFilter(space: "mission")) == ["note-smart", "note-old"])
        #expect(try ids("smart", SearchFilter(tag: "beijing")) == ["note-smart"])
        #expect(try ids("smart", SearchFilter(author: "ANA")) == ["note-old"])
        #expect(try ids("smart", SearchFilter(since: SearchFixture.nov30)) == ["note-smart"])
        let projects = try ids("smart cities", SearchFilter(kind: "project"))
        #expect(projects.contains("project-sieugreen") && projects.allSatisfy { $0.hasPrefix("project-") })
        #expect(try ids("smart", SearchFilter(kind: "Policy")).contains("policy-smart-city-pilots"))
    }

    @Test func aVersionSixStoreRebuildsItsIndexOnOpenAllOrNothing() throws {
        let path = dir.file("old.sqlite")
        let entry: [FieldName: Value] = ["kind": .string("policy"), "name": .string("Smart city pilot project sites"), "summary": .text("Pilots in 193 cities.")]
        do {
            let db = try Database(path: path)
            _ = try Migrator(Array(SQLiteReplicaStorage.migrator.migrations.prefix(6))).migrate(db)
            try db.run("INSERT INTO records (space, collection, record, confirmed_version, view, confirmed_is_view) VALUES ('briefing', 'entries', 'policy-smart-city-pilots', 1, ?, 1)", FieldValues.encode(entry))
            try db.run("INSERT INTO search (rowid, title, body, extra, space, collection, record, tags) VALUES (?, 'Smart city pilot project sites', 'Pilots in 193 cities.', '', 'briefing', 'entries', 'policy-smart-city-pilots', '')", SearchIndex.entryRowids + 1)
            // Killed half-way through the rebuild: the transaction is undone, old index and version kept.
            struct Killed: Error {}
            #expect(throws: Killed.self) { try db.transaction { try SearchIndex.rebuild(db); throw Killed() } }
            #expect(try Migrator.version(of: db) == 6)
            #expect(try db.query("SELECT body FROM search") { $0.string(at: 0) } == ["Pilots in 193 cities."])
            db.close()
        }
        let storage = try SQLiteReplicaStorage(path: path)
        defer { storage.close() }
        #expect(try Migrator.version(of: storage.db) == 7)
        #expect(try storage.db.query("SELECT body FROM search") { $0.string(at: 0) } == ["pilot in 193 citi"])
        // "city" finds "cities" now, by the same rowid as before.
        #expect(try SearchIndex.search(storage.db, "city", filter: SearchFilter()).hits.map(\.key.record) == ["policy-smart-city-pilots"])
        #expect(try storage.db.query("SELECT rowid FROM search") { $0.int64(at: 0) } == [SearchIndex.entryRowids + 1])
    }
}
