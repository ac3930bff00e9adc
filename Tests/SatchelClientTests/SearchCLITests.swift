import Foundation
import SatchelClient
import SatchelTestSupport
import Testing

/// `satchel search` as a person sees it: the real binary over a device holding the briefing
/// and a few notes (no server needed: search is offline).
@Suite struct SearchCLITests {
    let dir = TemporaryDirectory()

    func device() async throws -> CLIDevice {
        let home = dir.file("home")
        let client = try SatchelClient(directory: home)  // the home as `satchel` makes it
        await client.close()
        try SearchFixture.fill(home + "/satchel.sqlite")
        return CLIDevice(home: home)
    }

    @Test func aQuestionShowsTheFallbackLineTheSentenceAndTheFacts() async throws {
        let d = try await device()
        let out = try await d.run("search", "denim", "photovoltaic")
        #expect(out.status == 0, "\(out)")
        let lines = out.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "no note has every word; showing best matches for 'denim photovoltaic'")
        let denim = try #require(lines.firstIndex { $0.contains("entry cluster-guangzhou-denim-clothing") })
        #expect(lines[denim] == "Guangzhou denim clothing cluster  entry cluster-guangzhou-denim-clothing in briefing")
        #expect(lines[denim + 1].contains("[denim]") && lines[denim + 1].hasSuffix("."))  // a sentence, marked
        #expect(lines[denim + 2] == "  cluster · Guangzhou, Guangdong")

        // One entry holds every word (their stems and spellings): it comes first, the best
        // matches follow, and the line says so.
        let wuhan = try await d.run("search", "largest", "fiber", "optic", "cable", "manufacturing", "base")
        #expect(wuhan.stdout.hasPrefix("""
            one note has every word; then best matches for 'largest fiber optic cable manufacturing base'

            Wuhan East Lake High-tech Zone  entry zone-wuhan-east-lake-high-tech-zone in briefing

            """))
        #expect(wuhan.stdout.contains("[optical] [fibre] and [cable] [manufacturing] [base]"))

        // JSON: the same hits with facts; the line on stderr, stdout stays an array.
        let json = try await d.run("search", "denim", "photovoltaic", "--json")
        let hits = try json.array()
        #expect(json.stderr.contains("no note has every word"))
        let first = try #require(hits.first { $0["id"] as? String == "cluster-guangzhou-denim-clothing" })
        #expect((first["facts"] as? [String]) == ["cluster", "Guangzhou, Guangdong"])
        #expect(first["matchedWords"] as? Int == 1 && first["everyWord"] as? Bool == false)
    }

    @Test func filtersNarrowTheHits() async throws {
        let d = try await device()
        func ids(_ args: String...) async throws -> [String] {
            let out = try await d.run(["search"] + args + ["--json"])
            #expect(out.status == 0, "\(out)")
            return try out.array().compactMap { $0["id"] as? String }
        }
        #expect(try await ids("smart", "--author", "ana") == ["note-old"])
        #expect(try await ids("smart", "--since", "2026-11-30") == ["note-smart"])
        #expect(try await Set(ids("smart", "--space", "mission")) == ["note-smart", "note-old"])
        #expect(try await ids("smart", "--tag", "beijing") == ["note-smart"])
        let projects = try await ids("EU", "project", "with", "China", "on", "smart", "cities", "--kind", "project")
        #expect(projects.first == "project-sieugreen" && projects.allSatisfy { $0.hasPrefix("project-") })
        // A since far back keeps every matching note; a bad one says what it takes.
        #expect(try await Set(ids("smart", "--since", "3650d")) == ["note-smart", "note-old"])
        let bad = try await d.run("search", "smart", "--since", "yesterday")
        #expect(bad.status != 0 && bad.stderr.contains("--since takes a date"))
        let mixed = try await d.run("search", "smart", "--kind", "project", "--author", "ana")
        #expect(mixed.status != 0 && mixed.stderr.contains("--author and --since are for notes"))
    }
}
