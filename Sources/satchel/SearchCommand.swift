import ArgumentParser
import Foundation
import SatchelClient
import SatchelProtocol

struct SearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Search notes and briefing entries together, best match first.",
        discussion: """
            Ask as you would ask a person: words such as "which", "in" and "does" are left
            out, words match their other forms ("cities" finds "city") and spellings
            ("fibre" finds "fiber", "urbanisation" "urbanization", "hi-tech" "high-tech"),
            and the last word also matches as a prefix. Records holding every word come
            first; when fewer than three do, the best matches for any of the words follow,
            most words matched first, and a line says so. Each hit shows the sentence that
            matched and the entry's key facts (kind, place, website, figures). Matches are
            highlighted (bold on a terminal, [like this] otherwise).

            Example:
              satchel search which cluster in Wuhan does optical fibre
              satchel search EU project with China on smart cities --kind project
              satchel search incubator --tag beijing --since 7d --author ana --json
            """)

    enum Collection: String, ExpressibleByArgument, CaseIterable {
        case notes, entries
        var name: CollectionName { self == .notes ? .notes : .entries }
    }

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The words to find, or a question.") var query: [String] = []
    @Option(help: ArgumentHelp("Only this space.", valueName: "space")) var space: String?
    @Option(help: "Only notes or only briefing entries.") var collection: Collection?
    @Option(help: ArgumentHelp("Only notes with this tag, or entries of this kind or sector.", valueName: "tag")) var tag: String?
    @Option(help: ArgumentHelp("Only notes by this author.", valueName: "user")) var author: String?
    @Option(help: ArgumentHelp("Only briefing entries of this kind (cluster, zone, park, project, organisation, policy, …).", valueName: "kind"))
    var kind: String?
    @Option(help: ArgumentHelp("Only notes changed since a date (2026-11-30) or for a time (36h, 7d).", valueName: "when"))
    var since: String?
    @Option(help: "At most this many results (1–500).") var limit = 20

    func validate() throws {
        if !query.joined().contains(where: { $0.isLetter || $0.isNumber }) {
            throw UsageError("give the words to search for, e.g. `satchel search battery supplier`")
        }
        if !(1...500).contains(limit) { throw UsageError("--limit must be between 1 and 500") }
        if let space { _ = try parseID(SpaceID.self, space) }
        if let since, Self.millis(since: since, now: Date()) == nil {
            throw UsageError("--since takes a date (2026-11-30, 2026-11-30T14:00:00Z) or a time back from now (36h, 7d)")
        }
        if kind != nil, collection == .notes { throw UsageError("--kind is for briefing entries; leave out --collection notes") }
        if author != nil || since != nil, kind != nil || collection == .entries {
            throw UsageError("--author and --since are for notes; briefing entries have neither")
        }
    }

    /// Milliseconds since 1970 for a date, a date and time, or a span back from `now`.
    static func millis(since text: String, now: Date) -> Int64? {
        if let unit = text.last, let n = Double(text.dropLast()), n >= 0 {
            let seconds: Double? = switch unit {
            case "m": n * 60
            case "h": n * 3600
            case "d": n * 86400
            case "w": n * 7 * 86400
            default: nil
            }
            if let seconds { return Int64((now.timeIntervalSince1970 - seconds) * 1000) }
        }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle()) { return Int64(date.timeIntervalSince1970 * 1000) }
        if let day = try? Date(text, strategy: Date.ISO8601FormatStyle().year().month().day()) { return Int64(day.timeIntervalSince1970 * 1000) }
        return nil
    }

    func run() async throws {
        let filter = SearchFilter(
            space: try space.map { try parseID(SpaceID.self, $0) }, collection: kind != nil ? .entries : author != nil || since != nil ? .notes : collection?.name,
            tag: tag, author: author, kind: kind, since: since.flatMap { Self.millis(since: $0, now: Date()) }, limit: limit)
        let text = query.joined(separator: " ")
        let found = try await global.withClient { client in try await client.searchResults(text, filter: filter) }
        if global.json {
            // The line goes to stderr, so that stdout stays the array scripts read.
            if let line = found.fallbackLine { Output.error(line) }
            Output.json(.array(found.hits.map { hit in
                .object([
                    "id": .string(hit.key.record.rawValue),
                    "space": .string(hit.key.space.rawValue),
                    "collection": .string(hit.key.collection.rawValue),
                    "title": .string(hit.title),
                    "snippet": .string(hit.snippet(marking: { $0 })),
                    "matches": .array(hit.snippet.filter(\.highlighted).map { .string($0.text) }),
                    "facts": .array(hit.facts.map { .string($0) }),
                    "matchedWords": .int(hit.matchedWords),
                    "everyWord": .bool(hit.matchedWords == found.words.count),
                    "rank": .double(hit.rank),
                ])
            }))
            return
        }
        if found.hits.isEmpty {
            Output.error("no matches for '\(text)'")
            return
        }
        if let line = found.fallbackLine { Output.line(Terminal.dim(line)) }
        for (i, hit) in found.hits.enumerated() {
            if i > 0 || found.fallbackLine != nil { Output.line() }
            let title = hit.title.isEmpty ? "(untitled)" : hit.title
            Output.line("\(Terminal.bold(title))  \(Terminal.dim("\(CollectionNoun.of(hit.key.collection)) \(hit.key.record) in \(hit.key.space)"))")
            let snippet = hit.snippet(marking: Terminal.match).split(whereSeparator: \.isNewline).joined(separator: " ")
            if !snippet.isEmpty { Output.line("  " + snippet) }
            if !hit.facts.isEmpty { Output.line("  " + Terminal.dim(hit.facts.joined(separator: " · "))) }
        }
    }
}
