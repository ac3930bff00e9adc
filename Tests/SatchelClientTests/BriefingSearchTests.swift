import Foundation
import SatchelClient
import SatchelProtocol
import SatchelTestSupport
import Testing

/// A device syncs the briefing from a real server (loaded with `satchel-server briefing load`)
/// and finds entries offline by name, alias, city and sector.
@Suite(.serialized) struct BriefingSearchTests {
    static let dataset = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Data/china-briefing.json").path

    @Test func briefingSyncsToDevicesAndIsSearchableOffline() async throws {
        let world = try await ServerWorld(users: ["ana"], roles: ServerWorld.missionAndBriefing)
        try await ServerProcess.run(["briefing", "load", Self.dataset, "--data", world.data])
        let ana = try await world.device("ana", "laptop")
        let report = try await ana.sync(pageSize: 100)
        #expect(report.pulled >= 227)
        world.server.terminate()  // everything below is offline

        func top(_ query: String, _ filter: SearchFilter = SearchFilter()) async throws -> String? {
            try await ana.search(query, filter: filter).first?.key.record.rawValue
        }
        #expect(try await top("Zhongguancun") == "park-zhongguancun-science-park")  // name
        #expect(try await top("Z-Park") == "park-zhongguancun-science-park")  // alias
        #expect(try await top("CDHT") == "zone-chengdu-hi-tech-industrial-development-zone")
        #expect(try await top("MoST") == "org-most")
        let wuxi = try await ana.search("Wuxi", filter: SearchFilter(collection: .entries)).map(\.key.record.rawValue)  // city
        #expect(wuxi.contains("cluster-wuxi-iot"))
        let biotech = try await ana.search("cluster", filter: SearchFilter(collection: .entries, tag: "Biotechnology", limit: 100))  // sector
        #expect(!biotech.isEmpty)
        for hit in biotech {
            guard case .stringSet(let sectors)? = try await ana.record(hit.key)?.view?["sectors"] else { Issue.record("no sectors"); continue }
            #expect(sectors.contains("Biotechnology") || hit.key.record.rawValue.hasPrefix("industry") || hit.key.record.rawValue.contains("biotech"))
        }
        // Notes and the briefing together, and a device cannot change the briefing.
        _ = try await ana.createNote(space: "mission", title: "Met Z-Park office")
        let mixed = try await ana.search("Z-Park", filter: SearchFilter(limit: 50)).map(\.key.collection)
        #expect(mixed.contains(.notes) && mixed.contains(.entries))
        let entry = RecordKey(space: "briefing", collection: .entries, record: "org-most")
        await #expect(throws: (any Error).self) { try await ana.updateNote(entry, title: "hacked") }
    }
}
