import ArgumentParser
import Foundation
import SatchelClient
import SatchelProtocol

struct NoteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "note",
        abstract: "Write, change, list and remove field notes.",
        discussion: """
            Notes are saved on this device at once (no network needed) and go to the
            server with the next `satchel sync`. Ids may be given as an unambiguous
            prefix (4+ characters).

            Example:
              satchel note add --title "Z-Park visit" --body "Met the incubator" --tag bj
              satchel note list --tag beijing
            """,
        subcommands: [Add.self, Edit.self, List.self, Show.self, Remove.self, Restore.self])
}

extension NoteCommand {
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new note.",
            discussion: """
                The text comes from --body, --body - (standard input) or --body-file. With
                none of them on a terminal, $EDITOR (or vi) opens; the first line is the
                title unless --title is given. Without --title, the text's first line is the
                title.

                Example:
                  satchel note add --title "SIP visit" --body "Met the nanotech team" --tag sip
                  cat minutes.txt | satchel note add --title "Minutes" --body - --link park-sip
                  satchel note add --space mission-cn-2026     # opens $EDITOR
                """)

        @OptionGroup var global: GlobalOptions
        @Option(help: "The title (without it, the first line of the text).") var title: String?
        @OptionGroup var text: BodyOptions
        @Option(name: .customLong("tag"), help: ArgumentHelp("A tag; repeat for several.", valueName: "tag")) var tags: [String] = []
        @Option(name: .customLong("link"), help: ArgumentHelp("A briefing entry to link (id or prefix); repeat for several.", valueName: "entry-id"))
        var links: [String] = []
        @Option(help: ArgumentHelp("The space to write to (default: the first you can write to, known after a sync).", valueName: "space"))
        var space: String?

        func validate() throws {
            if let title, title.trimmingCharacters(in: .whitespaces).isEmpty { throw UsageError("--title cannot be empty") }
            if let space { _ = try parseID(SpaceID.self, space) }
            try validateTags(tags, option: "--tag")
            if title == nil && !text.isGiven && !Terminal.stdinIsTerminal {
                throw UsageError("nothing to save: give --title and the text with --body, --body - or --body-file (or run in a terminal to write it in $EDITOR)")
            }
        }

        func run() async throws {
            var body: String
            var title = self.title
            if let given = try text.read() {
                body = given.trimmingTrailingNewlines
            } else if Terminal.stdinIsTerminal {
                let edited = try Editor.edit("", hint: title == nil ? "satchel: write the title on the first line, the note below it" : "satchel: write the note's text")
                body = edited.trimmingTrailingNewlines
                // As with an empty commit message: leaving the editor with nothing written means no.
                if body.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                    throw CLIError(.usage, "the editor was left empty; nothing was saved" + (title == nil ? "" : " (for a note with a title only, give --body '')"))
                }
            } else {
                body = ""
            }
            if title == nil {
                (title, body) = splitTitle(body)
            }
            guard let title, !title.isEmpty else {
                throw CLIError(.usage, "the note needs a title: give --title, or put it on the text's first line")
            }
            let space = try self.space.map { try parseID(SpaceID.self, $0) }
            let key = try await global.withClient { client in
                let links = try await resolveLinks(self.links, client: client)
                return try await client.createNote(space: space, title: title, body: body, tags: tags, links: links)
            }
            if global.json {
                Output.json(.object(["id": .string(key.record.rawValue), "space": .string(key.space.rawValue), "title": .string(title)]))
            } else {
                Output.line("added note \(key.record) to \(key.space) (it goes to the server with the next `satchel sync`)")
            }
        }
    }

    struct Edit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a note's title, text, tags or links.",
            discussion: """
                Only the fields given change. With no field options on a terminal, $EDITOR
                (or vi) opens on the note's text.

                Example:
                  satchel note edit 01hq3k --title "SIP visit (2)" --tag nanotech --untag draft
                  satchel note edit 01hq3k --body-file minutes.md
                  satchel note edit 01hq3k          # opens $EDITOR on the text
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The note's id, or an unambiguous prefix.") var id: String
        @Option(help: "The new title.") var title: String?
        @OptionGroup var text: BodyOptions
        @Option(name: .customLong("tag"), help: ArgumentHelp("Add a tag; repeat for several.", valueName: "tag")) var addTags: [String] = []
        @Option(name: .customLong("untag"), help: ArgumentHelp("Remove a tag; repeat for several.", valueName: "tag")) var removeTags: [String] = []
        @Option(name: .customLong("link"), help: ArgumentHelp("Link a briefing entry (id or prefix); repeat for several.", valueName: "entry-id"))
        var addLinks: [String] = []
        @Option(name: .customLong("unlink"), help: ArgumentHelp("Remove a link (entry id); repeat for several.", valueName: "entry-id"))
        var removeLinks: [String] = []

        var changesFields: Bool {
            title != nil || text.isGiven || !addTags.isEmpty || !removeTags.isEmpty || !addLinks.isEmpty || !removeLinks.isEmpty
        }

        func validate() throws {
            if let title, title.trimmingCharacters(in: .whitespaces).isEmpty { throw UsageError("--title cannot be empty") }
            try validateTags(addTags, option: "--tag")
            if !changesFields && !Terminal.stdinIsTerminal {
                throw UsageError("nothing to change: give --title, --body, --body-file, --tag, --untag, --link or --unlink (or run in a terminal to edit the text in $EDITOR)")
            }
        }

        func run() async throws {
            let bodyGiven = try text.read()
            let (key, changed) = try await global.withClient { client -> (RecordKey, Bool) in
                let key = try await client.find(id, in: .notes, noun: "a note")
                guard let view = try await client.record(key)?.view else { throw CLIError(.notFound, "note \(key.record) was deleted") }
                var body = bodyGiven?.trimmingTrailingNewlines
                if !changesFields {
                    let current = view["body"]?.textValue ?? ""
                    let edited = try Editor.edit(current.isEmpty ? "" : current.trimmingTrailingNewlines + "\n", hint: "satchel: editing the text of note \(key.record)").trimmingTrailingNewlines
                    if edited == current.trimmingTrailingNewlines { return (key, false) }
                    // An emptied buffer is a way out of the editor, not a wish to erase the text.
                    if edited.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                        throw CLIError(.usage, "the editor was left empty; the note's text is unchanged (to clear it, give --body '')")
                    }
                    body = edited
                }
                var tags: [String]? = nil
                if !addTags.isEmpty || !removeTags.isEmpty {
                    let current: [String] = if case .stringSet(let a)? = view["tags"] { a } else { [] }
                    let removed = Set(removeTags.map { $0.lowercased() })
                    tags = (current + addTags).filter { !removed.contains($0.lowercased()) }
                }
                var links: [RecordID]? = nil
                if !addLinks.isEmpty || !removeLinks.isEmpty {
                    let current: [RecordID] = if case .referenceSet(let a)? = view["links"] { a.map(\.record) } else { [] }
                    let added = try await resolveLinks(addLinks, client: client)
                    links = (current + added).filter { id in !removeLinks.contains { id.rawValue == $0 || (id.rawValue.hasPrefix($0) && $0.count >= 4) } }
                }
                try await client.updateNote(key, title: title, body: body, tags: tags, links: links)
                return (key, true)
            }
            if global.json {
                Output.json(.object(["id": .string(key.record.rawValue), "changed": .bool(changed)]))
            } else {
                Output.line(changed ? "updated note \(key.record) (it goes to the server with the next `satchel sync`)" : "no changes")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the notes on this device, newest first.",
            discussion: """
                Example:
                  satchel note list
                  satchel note list --space mission-cn-2026 --tag beijing --json
                  satchel note list --limit 10 --utc
                """,
            aliases: ["ls"])

        @OptionGroup var global: GlobalOptions
        @Option(help: ArgumentHelp("Only notes in this space.", valueName: "space")) var space: String?
        @Option(help: ArgumentHelp("Only notes with this tag.", valueName: "tag")) var tag: String?
        @Option(help: ArgumentHelp("At most this many notes, the newest.", valueName: "n")) var limit: Int?

        func validate() throws {
            if let space { _ = try parseID(SpaceID.self, space) }
            if let limit, limit < 1 { throw UsageError("--limit takes a number of notes from 1 up") }
        }

        func run() async throws {
            let space = try self.space.map { try parseID(SpaceID.self, $0) }
            let (all, refused) = try await global.withClient { client in (try await client.notes(space: space), try await client.rejected().count) }
            var notes = all
            if let tag = tag?.lowercased() {
                notes = notes.filter { if case .stringSet(let tags)? = $0.values["tags"] { tags.contains { $0.lowercased() == tag } } else { false } }
            }
            let shown = limit.map { min($0, notes.count) } ?? notes.count
            let more = notes.count - shown
            notes = Array(notes.prefix(shown))
            if global.json {
                Output.json(.array(notes.map { note in
                    .object([
                        "id": .string(note.key.record.rawValue),
                        "space": .string(note.key.space.rawValue),
                        "title": .string(note.values["title"]?.textValue ?? ""),
                        "tags": RecordFormat.json(note.values["tags"] ?? .stringSet([])),
                        "updatedAt": note.values["updatedAt"].map(RecordFormat.json) ?? .null,
                    ])
                }))
                return
            }
            // Changes the server refused are not in the notes any more: say where their text is.
            if refused > 0 {
                Output.error("\(Format.count(refused, "change")) the server refused \(refused == 1 ? "is" : "are") not shown here: `satchel rejected` shows \(refused == 1 ? "it" : "them") in full")
            }
            if notes.isEmpty {
                Output.error(tag == nil && space == nil ? "no notes yet; write one with `satchel note add --title …`" : "no notes match")
                return
            }
            for note in notes {
                let updated = note.values["updatedAt"].map(RecordFormat.human) ?? ""
                var line = "\(note.key.record)  \(Terminal.dim(updated))  \(Terminal.bold(note.values["title"]?.textValue ?? ""))"
                if case .stringSet(let tags)? = note.values["tags"], !tags.isEmpty { line += "  " + tags.map { "#" + $0 }.joined(separator: " ") }
                if space == nil { line += Terminal.dim("  (\(note.key.space))") }
                Output.line(line)
            }
            if more > 0 { Output.error("\(Format.count(more, "older note")) not shown (--limit \(shown))") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a note with all its fields.",
            discussion: """
                Example:
                  satchel note show 01hq3k
                  satchel note show 01hq3k --json
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The note's id, or an unambiguous prefix.") var id: String

        func run() async throws {
            try await global.withClient { client in
                try await showRecord(try await client.find(id, in: .notes, noun: "a note"), client: client, json: global.json)
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm",
            abstract: "Delete a note (everywhere, with the next sync).",
            discussion: """
                Example:
                  satchel note rm 01hq3k
                """,
            aliases: ["remove"])

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The note's id, or an unambiguous prefix.") var id: String

        func run() async throws {
            let key = try await global.withClient { client in
                let key = try await client.find(id, in: .notes, noun: "a note")
                try await client.deleteNote(key)
                return key
            }
            if global.json {
                Output.json(.object(["id": .string(key.record.rawValue), "deleted": .bool(true)]))
            } else {
                Output.line("deleted note \(key.record) (the deletion goes to the server with the next `satchel sync`; until then `satchel note restore \(key.record)` brings it back)")
            }
        }
    }

    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bring back a note deleted on this device.",
            discussion: """
                Works until a sync has confirmed the deletion with the server (and if a
                sync sent the deletion but its answer has not arrived yet). The note comes
                back as it was just before it was deleted, on every device, with the next sync.

                Example:
                  satchel note rm 01hq3k
                  satchel note restore 01hq3k
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The deleted note's id, or an unambiguous prefix.") var id: String

        func run() async throws {
            let (key, title) = try await global.withClient { client in
                let key = try await client.findDeleted(id)
                try await client.restoreNote(key)
                return (key, try await client.record(key)?.view?["title"]?.textValue ?? "")
            }
            if global.json {
                Output.json(.object(["id": .string(key.record.rawValue), "restored": .bool(true), "title": .string(title)]))
            } else {
                Output.line("restored note \(key.record) \(Terminal.bold(title)) (it goes to the server with the next `satchel sync`)")
            }
        }
    }
}

func validateTags(_ tags: [String], option: String) throws {
    if let bad = tags.first(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
        throw UsageError("\(option) needs a word, not '\(bad)'")
    }
}

/// Briefing entries named by id or prefix, as record ids; anything else is an input error.
func resolveLinks(_ ids: [String], client: SatchelClient) async throws -> [RecordID] {
    var out: [RecordID] = []
    for id in ids {
        let key = try await client.lookup(id)
        guard key.collection == .entries else {
            throw CLIError(.usage, "'\(id)' is \(CollectionNoun.withArticle(key.collection)); --link takes briefing entries (`satchel search --collection entries` finds them)")
        }
        out.append(key.record)
    }
    return out
}
