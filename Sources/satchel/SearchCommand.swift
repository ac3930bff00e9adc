import ArgumentParser
import SatchelClient
import SatchelProtocol

struct SearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Search notes and briefing entries together, best match first.",
        discussion: """
            Every word must match; the last one also matches as a prefix. Words with
            punctuation inside ("Z-Park") match as a phrase. Titles and names weigh
            most. Matches are highlighted (bold on a terminal, [like this] otherwise).

            Example:
              satchel search battery supplier
              satchel search z-park --collection entries --limit 5
              satchel search incubator --tag beijing --json
            """)

    enum Collection: String, ExpressibleByArgument, CaseIterable {
        case notes, entries
        var name: CollectionName { self == .notes ? .notes : .entries }
    }

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The words to find.") var query: [String] = []
    @Option(help: ArgumentHelp("Only this space.", valueName: "space")) var space: String?
    @Option(help: "Only notes or only briefing entries.") var collection: Collection?
    @Option(help: ArgumentHelp("Only notes with this tag, or entries of this kind or sector.", valueName: "tag")) var tag: String?
    @Option(help: "At most this many results (1–500).") var limit = 20

    func validate() throws {
        if !query.joined().contains(where: { $0.isLetter || $0.isNumber }) {
            throw UsageError("give the words to search for, e.g. `satchel search battery supplier`")
        }
        if !(1...500).contains(limit) { throw UsageError("--limit must be between 1 and 500") }
        if let space { _ = try parseID(SpaceID.self, space) }
    }

    func run() async throws {
        let filter = SearchFilter(
            space: try space.map { try parseID(SpaceID.self, $0) }, collection: collection?.name, tag: tag, limit: limit)
        let hits = try await global.withClient { client in try await client.search(query.joined(separator: " "), filter: filter) }
        if global.json {
            Output.json(.array(hits.map { hit in
                .object([
                    "id": .string(hit.key.record.rawValue),
                    "space": .string(hit.key.space.rawValue),
                    "collection": .string(hit.key.collection.rawValue),
                    "title": .string(hit.title),
                    "snippet": .string(hit.snippet(marking: { $0 })),
                    "matches": .array(hit.snippet.filter(\.highlighted).map { .string($0.text) }),
                    "rank": .double(hit.rank),
                ])
            }))
            return
        }
        if hits.isEmpty {
            Output.error("no matches for '\(query.joined(separator: " "))'")
            return
        }
        for (i, hit) in hits.enumerated() {
            if i > 0 { Output.line() }
            let title = hit.title.isEmpty ? "(untitled)" : hit.title
            Output.line("\(Terminal.bold(title))  \(Terminal.dim("\(CollectionNoun.of(hit.key.collection)) \(hit.key.record) in \(hit.key.space)"))")
            let snippet = hit.snippet(marking: Terminal.match).split(whereSeparator: \.isNewline).joined(separator: " ")
            if !snippet.isEmpty { Output.line("  " + snippet) }
        }
    }
}
