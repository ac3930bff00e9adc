import Foundation
import SatchelProtocol
import SatchelTestSupport
import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite
import SatchelBriefing

/// The briefing dataset (Data/china-briefing.json) and loading it into a server.
@Suite struct BriefingTests {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Data/china-briefing.json").path

    static func kinds(_ d: [RecordID: [FieldName: Value]]) -> [String: Int] {
        d.values.reduce(into: [:]) { $0[$1["kind"]!.textValue!, default: 0] += 1 }
    }

    @Test func datasetHasEveryKindOfEntryTheBriefingNames() throws {
        let dataset = try Briefing.read(Self.path)  // also checks ids are unique and references resolve
        #expect(Self.kinds(dataset) == [
            "organisation": 63, "policy": 60, "figure": 27, "cluster": 20, "industry": 16, "partnership": 9,
            "project": 8, "zone": 8, "park": 5, "sector": 4, "zone-type": 4, "city-cluster": 3,
        ])
        // The four focus sectors and the four zone types.
        let names = Set(dataset.values.compactMap { $0["name"]?.textValue })
        for sector in ["Automotive", "Human Health", "Renewable Energy", "ICT"] { #expect(names.contains(sector)) }
        let zoneTypes = dataset.values.filter { $0["kind"] == .string("zone-type") }.flatMap { v -> [String] in
            if case .stringSet(let a)? = v["aliases"] { a } else { [] }
        }
        for abbreviation in ["SEZ", "STIP", "HTZ", "FTZ"] { #expect(zoneTypes.contains(abbreviation), "zone type \(abbreviation)") }
        // The top-100 cluster table has no rows in the text: one entry saying so, no invented rows.
        #expect(dataset["figure-top-100-industrial-clusters-2010"] != nil)
        #expect(dataset.keys.filter { $0.rawValue.contains("top-100") }.count == 1)
    }

    @Test func organisationsInTheDirectoryHaveWebsitesAndEveryWebsiteIsAURL() throws {
        let dataset = try Briefing.read(Self.path)
        let organisations = dataset.filter { $0.value["kind"] == .string("organisation") }
        // The briefing's organisation directory (Annex A.3) gives a website for each entry but the
        // Chinese Academy of Sciences (only its Institute of Computing Technology has one there).
        let directory = organisations.filter { $0.value["section"]?.textValue?.contains("Annex A.3") == true && $0.key != "org-cas" }
        #expect(directory.count == 36)
        for (id, v) in directory { #expect(v["website"] != nil, "\(id) has no website") }
        for (id, v) in dataset {
            if let site = v["website"]?.textValue {
                #expect(site.hasPrefix("http://") || site.hasPrefix("https://") || site.hasPrefix("www."), "\(id): \(site)")
            }
        }
    }

    @Test func aliasesCoverWhatFieldUsersType() throws {
        let dataset = try Briefing.read(Self.path)
        func entry(withAlias alias: String) -> RecordID? {
            dataset.first { if case .stringSet(let a)? = $0.value["aliases"] { a.contains(alias) } else { false } }?.key
        }
        #expect(entry(withAlias: "Z-Park") == "park-zhongguancun-science-park")
        #expect(entry(withAlias: "CDHT") == "zone-chengdu-hi-tech-industrial-development-zone")
        #expect(entry(withAlias: "MoST") == "org-most")
    }

    @Test func loadingAgainAppliesOnlyWhatChangedAndEveryoneReadsIt() async throws {
        let dir = TemporaryDirectory()
        let store = try SQLiteServerStore(path: dir.file("s.sqlite"))
        try await store.createUser("ana", now: 1)
        let first = try await Briefing.load(Self.path, into: store, now: 1_000)
        #expect(first.created == 227 && first.changed == 0 && first.removed == 0)
        #expect(try await store.spaces(of: "ana").map(\.space) == ["briefing"])
        #expect(try await store.spaces(of: "ana").first?.role == .reader)
        let again = try await Briefing.load(Self.path, into: store, now: 2_000)
        #expect(again.created == 0 && again.changed == 0 && again.removed == 0 && again.head == first.head)

        // An edited dataset: one summary changed, one entry removed, one added.
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.path))) as! [String: Any]
        var entries = json["entries"] as! [[String: Any]]
        entries[0]["summary"] = "Updated summary."
        let removed = entries.removeLast()["id"] as! String
        entries.append(["id": "org-new-partner", "kind": "organisation", "name": "New Partner Cluster", "section": "update"])
        for i in entries.indices {
            if var related = entries[i]["related"] as? [String] {
                related.removeAll { $0 == removed }
                entries[i]["related"] = related
            }
        }
        json["entries"] = entries
        let edited = dir.file("edited.json")
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: edited))
        let update = try await Briefing.load(edited, into: store, now: 3_000)
        #expect(update.created == 1 && update.removed == 1)
        #expect(update.changed >= 1)
        let key = RecordKey(space: "briefing", collection: .entries, record: RecordID(unchecked: entries[0]["id"] as! String))
        #expect(try await store.record(key)?.values["summary"] == .text("Updated summary."))
        await store.close()
    }

    @Test func aDatasetWithADanglingReferenceIsRefused() throws {
        let dir = TemporaryDirectory()
        let bad = dir.file("bad.json")
        try Data(#"{"entries": [{"id": "a", "kind": "park", "name": "A", "related": ["nowhere"]}]}"#.utf8).write(to: URL(fileURLWithPath: bad))
        #expect { try Briefing.read(bad) } throws: { ($0 as? Rejection)?.message.contains("nowhere") == true }
    }
}
