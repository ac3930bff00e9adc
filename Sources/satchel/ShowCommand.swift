import ArgumentParser
import SatchelClient
import SatchelProtocol

struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show any record (a note, a briefing entry, a conflict) with all its fields.",
        discussion: """
            Sets print as comma lists, timestamps as ISO dates in this computer's time zone (UTC with --utc; JSON always UTC), links by id. The
            id may be an unambiguous prefix (at least 4 characters).

            Example:
              satchel show park-zhongguancun-science-park
              satchel show 01hq3k --json
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The record's id, or an unambiguous prefix of it.") var id: String

    func run() async throws {
        try await global.withClient { client in
            try await showRecord(try await client.lookup(id), client: client, json: global.json)
        }
    }
}

/// Prints a record (shared by `show` and `note show`).
func showRecord(_ key: RecordKey, client: SatchelClient, json: Bool) async throws {
    guard let record = try await client.record(key), record.view != nil else {
        throw CLIError(.notFound, "record \(key.record) is no longer on this device (deleted)")
    }
    if json {
        Output.json(RecordFormat.json(record))
    } else {
        Output.line(RecordFormat.human(record, linkNames: await RecordFormat.linkNames(record, client: client)))
    }
}
