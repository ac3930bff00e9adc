import Foundation
import SatchelTestSupport
import Testing

/// `satchel export`: the mission report, through the real binary, from a device that synced the
/// briefing and wrote notes.
@Suite(.serialized) struct CLIExportTests {
    @Test func theReportGroupsByDayAndTagNamesTheBriefingAndRoundTripsAsCSVAndJSON() async throws {
        let world = try await ServerWorld(users: ["ana"], roles: ServerWorld.missionAndBriefing)
        defer { world.server.terminate() }
        try await ServerProcess.run(["briefing", "load", BriefingSearchTests.dataset, "--data", world.data])
        let ana = try await world.joinedDevice("ana", label: "laptop")
        try await ana.ok("sync")
        try await ana.ok("note", "add", "--title", "Z-Park visit", "--body", "Met the incubator team, \"very keen\".\nNext: a call.",
                         "--tag", "beijing", "--link", "park-zhongguancun-science-park")
        try await ana.ok("note", "add", "--title", "Dinner", "--body", "Nothing to report")
        try await ana.ok("note", "add", "--title", "Optics Valley", "--tag", "wuhan", "--tag", "optics")

        let md = try await ana.ok("export", "--utc").stdout
        let today = String(ISO8601DateFormatter().string(from: Date()).prefix(10))
        #expect(md.hasPrefix("# Mission notes\n"), "\(md)")
        #expect(md.contains("## \(today)"))
        #expect(md.contains("### #beijing\n\n#### Z-Park visit\n"), "\(md)")
        #expect(md.contains("### #optics\n\n#### Optics Valley"), "the first tag heads it: \(md)")
        #expect(md.contains("Briefing: Zhongguancun Science Park (`park-zhongguancun-science-park`)"), "\(md)")
        // Untagged notes come last.
        let untagged = try #require(md.range(of: "### Untagged"))
        #expect(md.range(of: "#### Dinner")!.lowerBound > untagged.lowerBound)
        #expect(md.range(of: "### #beijing")!.lowerBound < untagged.lowerBound)
        #expect(md.contains("· ana · mission · #beijing*"), "\(md)")

        let csvFile = world.dir.file("notes.csv")
        let wrote = try await ana.ok("export", "--format", "csv", "--out", csvFile)
        #expect(wrote.stderr.contains("wrote 3 notes"))
        let csv = try String(contentsOfFile: csvFile, encoding: .utf8)
        #expect(csv.hasPrefix("id,space,title,body,tags,author,created,updated,briefing\r\n"))
        #expect(csv.contains("\"Met the incubator team, \"\"very keen\"\".\nNext: a call.\""), "\(csv)")
        #expect(csv.contains("optics; wuhan"))

        let json = try await ana.ok("export", "--format", "json", "--tag", "WUHAN").array()
        #expect(json.count == 1)
        #expect(json.first?["title"] as? String == "Optics Valley")
        #expect((json.first?["createdAt"] as? String)?.hasPrefix(today) == true)
        let linked = try await ana.ok("--json", "export", "--tag", "beijing").array()
        #expect((linked.first?["links"] as? [[String: Any]])?.first?["name"] as? String == "Zhongguancun Science Park")

        #expect(try await ana.ok("export", "--format", "json", "--since", "2999-01-01").array().isEmpty)
        let bad = try await ana.run("export", "--since", "last tuesday")
        #expect(bad.status == 1 && bad.stderr.contains("--since takes a day"), "\(bad)")
        #expect(try await ana.run("export", "--format", "pdf").status == 1)
    }
}
