import ArgumentParser
import Foundation
import SatchelClient
import SatchelProtocol

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the notes as a mission report: Markdown, JSON or CSV.",
        discussion: """
            Writes the notes on this device (titles, text, tags, author, times and the
            briefing entries they link to) to standard output or --out. Markdown groups
            them by day and tag, ready to paste into a report; CSV opens in a spreadsheet.
            Times are in this computer's time zone unless --utc.

            Example:
              satchel export > report.md
              satchel export --space mission-cn-2026 --tag wuhan --since 2026-11-02
              satchel export --format csv --out notes.csv
              satchel export --format json | jq '.[].title'
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("markdown, json or csv.", valueName: "format")) var format: String = "markdown"
    @Option(help: ArgumentHelp("Only notes in this space.", valueName: "space")) var space: String?
    @Option(help: ArgumentHelp("Only notes with this tag.", valueName: "tag")) var tag: String?
    @Option(help: ArgumentHelp("Only notes written or changed since this day (2026-11-02) or time (2026-11-02T14:00:00Z).", valueName: "date"))
    var since: String?
    @Option(help: ArgumentHelp("Write the report to this file instead of standard output.", valueName: "file")) var out: String?

    static func millis(_ value: Value?) -> Int64? {
        if case .timestamp(let t)? = value { t } else { nil }
    }

    var timeZone: TimeZone { global.utc ? TimeZone(identifier: "UTC")! : .current }

    func validate() throws {
        if global.json && format != "json" && format != "markdown" { throw UsageError("--json asks for JSON; leave it out with --format \(format)") }
        guard MissionReport.Format(rawValue: format) != nil else {
            throw UsageError("--format takes markdown, json or csv, not '\(format)'")
        }
        if let space { _ = try parseID(SpaceID.self, space) }
        if let since, MissionReport.parseSince(since, timeZone: timeZone) == nil {
            throw UsageError("--since takes a day like 2026-11-02 or a time like 2026-11-02T14:00:00Z, not '\(since)'")
        }
    }

    func run() async throws {
        let format = global.json ? .json : MissionReport.Format(rawValue: format)!
        let space = try self.space.map { try parseID(SpaceID.self, $0) }
        let since = self.since.flatMap { MissionReport.parseSince($0, timeZone: timeZone) }
        let tag = self.tag?.lowercased()
        let notes = try await global.withClient { client -> [ReportNote] in
            var names: [RecordID: String] = [:]
            var out: [ReportNote] = []
            for note in try await client.notes(space: space) {
                let v = note.values
                let tags: [String] = if case .stringSet(let t)? = v["tags"] { t } else { [] }
                if let tag, !tags.contains(where: { $0.lowercased() == tag }) { continue }
                let created = Self.millis(v["createdAt"]) ?? 0
                let updated = Self.millis(v["updatedAt"]) ?? created
                if let since, updated < since { continue }
                var links: [(id: String, name: String)] = []
                if case .referenceSet(let refs)? = v["links"] {
                    for ref in refs {
                        if names[ref.record] == nil {
                            // A link to an entry this device does not hold (yet) shows its id.
                            var name = ref.record.rawValue
                            if let key = try? await client.find(ref.record.rawValue), let n = try await client.record(key)?.view?["name"]?.textValue { name = n }
                            names[ref.record] = name
                        }
                        links.append((ref.record.rawValue, names[ref.record]!))
                    }
                }
                out.append(ReportNote(
                    id: note.key.record.rawValue, space: note.key.space.rawValue,
                    title: v["title"]?.textValue ?? "", body: v["body"]?.textValue ?? "", tags: tags,
                    author: v["author"]?.textValue, created: created, updated: updated, links: links))
            }
            return out
        }
        var heading = "Mission notes"
        if let space { heading += " — \(space)" }
        if let tag { heading += " — #\(tag)" }
        if let since = self.since { heading += " since \(since)" }
        let text = MissionReport.render(notes, as: format, timeZone: timeZone, title: heading)
        if let out {
            guard FileManager.default.createFile(atPath: out, contents: Data(text.utf8)) else {
                throw CLIError(.local, "cannot write '\(out)'; check the folder exists and can be written")
            }
            Output.error("wrote \(Format.count(notes.count, "note")) to \(out)")
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}
