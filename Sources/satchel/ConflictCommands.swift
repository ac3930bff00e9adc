import ArgumentParser
import Foundation
import SatchelClient
import SatchelProtocol

struct ConflictsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conflicts",
        abstract: "List open conflicts with both versions.",
        discussion: """
            A conflict is a change that lost to another device's concurrent change: the
            record keeps the winner, and the other version waits here until you resolve
            it.

            Example:
              satchel conflicts
              satchel conflicts --json
            """)

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let (conflicts, titles) = try await global.withClient { client in
            let conflicts = try await client.conflicts()
            var titles: [RecordKey: String] = [:]
            for c in conflicts {
                if let view = try await client.record(c.record)?.view, let t = (view["title"] ?? view["name"])?.textValue { titles[c.record] = t }
            }
            return (conflicts, titles)
        }
        if global.json {
            Output.json(.array(conflicts.map { c in
                .object([
                    "id": .string(c.id.record.rawValue),
                    "kind": .string(c.kind?.rawValue),
                    "space": .string(c.record.space.rawValue),
                    "collection": .string(c.record.collection.rawValue),
                    "record": .string(c.record.record.rawValue),
                    "title": .string(titles[c.record]),
                    "field": .string(c.field?.rawValue),
                    "winner": RecordFormat.json(c.winner),
                    "kept": RecordFormat.json(c.kept),
                    "keptDevice": .string(c.keptDevice),
                ])
            }))
            return
        }
        if conflicts.isEmpty {
            Output.line("no open conflicts")
            return
        }
        for (i, c) in conflicts.enumerated() {
            if i > 0 { Output.line() }
            let what = c.field.map { "'\($0)' of " } ?? ""
            let title = titles[c.record].map { " \"\($0)\"" } ?? ""
            Output.line("\(Terminal.bold("conflict \(c.id.record)")): \(what)\(CollectionNoun.of(c.record.collection)) \(c.record.record)\(title) (\(Self.explain(c.kind)))")
            Output.line("  now:        \(Self.quoted(c.winner))")
            Output.line("  set aside:  \(Self.quoted(c.kept))" + (c.keptDevice.map { Terminal.dim("  (from device \($0))") } ?? ""))
            let choices = c.field == nil ? "--keep | --delete" : "--keep | --restore | --value TEXT"
            Output.line(Terminal.dim("  resolve:    satchel resolve \(c.id.record) \(choices)"))
        }
    }

    static func quoted(_ v: Value) -> String {
        switch v {
        case .null: "(nothing: deleted)"
        case .text(let s):
            s.contains("\n") ? "\n" + s.split(separator: "\n", omittingEmptySubsequences: false).map { "      " + $0 }.joined(separator: "\n") : s
        default: RecordFormat.human(v)
        }
    }

    static func explain(_ kind: ConflictKind?) -> String {
        switch kind {
        case .field?: "both devices changed it"
        case .text?: "both devices edited the same passage"
        case .staleBase?: "an edit made on a very old copy"
        case .editRevived?: "edited on one device while deleted on another; the edit brought it back"
        case .deleteRefused?: "deleted on one device while edited on another; it was kept"
        case nil: "conflict"
        }
    }
}

struct ResolveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "Settle a conflict: keep the current version, restore the other, or write your own.",
        discussion: """
            The choice is saved at once and goes to every device with the next `satchel
            sync`. --value takes text for text fields and a comma list for tags.

            Example:
              satchel resolve a1b2c3-7.c0 --keep
              satchel resolve a1b2c3-7.c0 --value "SIP visit (Ana and Bob)"
              satchel resolve a1b2c3-9.c0 --delete     # a refused delete: delete after all
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The conflict's id (from `satchel conflicts`).") var id: String
    @Flag(help: "Keep the version the record has now (dismiss the conflict).") var keep = false
    @Flag(help: "Put the set-aside version back.") var restore = false
    @Option(help: ArgumentHelp("Write this value instead (e.g. a merge of both).", valueName: "text")) var value: String?
    @Flag(help: "Delete the record (for a delete that was refused because of an edit).") var delete = false

    func validate() throws {
        let chosen = [keep, restore, value != nil, delete].filter { $0 }.count
        if chosen != 1 {
            throw UsageError("choose exactly one of --keep, --restore, --value TEXT or --delete; `satchel conflicts` shows both versions")
        }
    }

    func run() async throws {
        let (key, info) = try await global.withClient { client in
            let key = try await client.find(id, in: .conflicts, noun: "a conflict")
            guard let info = try await client.conflicts().first(where: { $0.id == key }) else {
                throw CLIError(.notFound, "no open conflict \(id); `satchel conflicts` lists them")
            }
            let resolution: Resolution
            if keep {
                resolution = .keepWinner
            } else if restore {
                resolution = .restoreKept
            } else if delete {
                resolution = .delete
            } else {
                resolution = .value(try Self.value(value ?? "", for: info))
            }
            try await client.resolve(key, with: resolution)
            return (key, info)
        }
        if global.json {
            Output.json(.object(["id": .string(key.record.rawValue), "record": .string(info.record.record.rawValue), "resolved": .bool(true)]))
        } else {
            Output.line("resolved conflict \(key.record) on \(CollectionNoun.of(info.record.collection)) \(info.record.record); `satchel sync` shares it")
        }
    }

    /// The text typed for --value as a value of the field's type.
    static func value(_ text: String, for info: ConflictInfo) throws -> Value {
        guard let field = info.field else {
            throw CLIError(.usage, "this conflict is about the whole record, not one field; use --keep or --delete")
        }
        let type = Schema.standard.collections[info.record.collection]?.fields[field]?.type
        switch type {
        case .string?: return .string(text)
        case .text?: return .text(text)
        case .stringSet?:
            return .set(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        case .integer?:
            guard let i = Int64(text.trimmingCharacters(in: .whitespaces)) else { throw CLIError(.usage, "'\(field)' takes a whole number, not '\(text)'") }
            return .integer(i)
        default:
            // Fall back to the type of the values in conflict.
            switch info.winner {
            case .string: return .string(text)
            case .text: return .text(text)
            default:
                throw CLIError(.usage, "'\(field)' cannot be typed in; use --keep or --restore")
            }
        }
    }
}

struct RejectedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rejected",
        abstract: "The changes the server refused, in full, with its reasons; move one to another space or discard it.",
        discussion: """
            A refused change is never sent again; the record shows the server's version,
            and this list shows what you wrote in full. Read why, then move it to a space
            that takes it (a new note with the same text) or discard it.

            Example:
              satchel rejected
              satchel rejected move a1b2c3-4 --space mission-cn-2026
              satchel rejected discard a1b2c3-4
            """,
        subcommands: [List.self, Move.self, Discard.self],
        defaultSubcommand: List.self)

    /// The refused change `id` (or an unambiguous prefix of 4+ characters) names.
    static func find(_ id: String, client: SatchelClient) async throws -> OutboxEntry {
        let rejected = try await client.rejected()
        if let exact = rejected.first(where: { $0.mutation.id.rawValue == id }) { return exact }
        let matches = id.count >= 4 ? rejected.filter { $0.mutation.id.rawValue.hasPrefix(id) } : []
        guard let first = matches.first else {
            throw CLIError(.notFound, "no refused change '\(id)' on this device; `satchel rejected` lists them")
        }
        guard matches.count == 1 else { throw CLIError(.usage, "'\(id)' matches several refused changes; give more of the id") }
        return first
    }

    static func discard(_ id: String, global: GlobalOptions) async throws {
        let id = try await global.withClient { client in
            let entry = try await find(id, client: client)
            try await client.discardRejected(entry.mutation.id)
            return entry.mutation.id
        }
        if global.json {
            Output.json(.object(["id": .string(id.rawValue), "discarded": .bool(true)]))
        } else {
            Output.line("discarded refused change \(id)")
        }
    }
}

extension RejectedCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the refused changes with the server's reasons and everything they held (the default).",
            discussion: """
                Example:
                  satchel rejected
                  satchel rejected list --json
                """)

        @OptionGroup var global: GlobalOptions
        /// The form before `discard` was a subcommand, still accepted.
        @Option(help: .hidden) var discard: String?

        func run() async throws {
            if let discard { return try await RejectedCommand.discard(discard, global: global) }
            let rejected = try await global.withClient { client in try await client.rejected() }
            if global.json {
                Output.json(.array(rejected.map { entry in
                    let m = entry.mutation
                    let reason: SatchelProtocol.Rejection? = if case .rejected(let r) = entry.state { r } else { nil }
                    return .object([
                        "id": .string(m.id.rawValue),
                        "operation": .string(m.operation.rawValue),
                        "space": .string(m.key.space.rawValue),
                        "collection": .string(m.key.collection.rawValue),
                        "record": .string(m.key.record.rawValue),
                        "fields": .array(m.changes.keys.sorted().map { .string($0.rawValue) }),
                        "values": RecordFormat.json(entry.writtenValues),
                        "code": .string(reason?.code.rawValue),
                        "message": .string(reason?.message),
                    ])
                }))
                return
            }
            if rejected.isEmpty {
                Output.line("no refused changes")
                return
            }
            for (i, entry) in rejected.enumerated() {
                if i > 0 { Output.line() }
                let m = entry.mutation
                let fields = m.changes.keys.sorted().map(\.rawValue).joined(separator: ", ")
                Output.line("\(Terminal.bold(m.id.rawValue)): \(m.operation.rawValue) of \(CollectionNoun.of(m.key.collection)) \(m.key.record) in \(m.key.space)" + (fields.isEmpty ? "" : " (\(fields))"))
                if case .rejected(let reason) = entry.state {
                    Output.line("  refused (\(reason.code.rawValue)): \(reason.message)")
                }
                for (name, value) in entry.writtenValues.sorted(by: { $0.key < $1.key }) {
                    Output.line("  \(name): \(RecordFormat.human(value).replacingOccurrences(of: "\n", with: "\n    "))")
                }
            }
            Output.line(Terminal.dim("move one to another space with `satchel rejected move ID --space S`, or forget it with `satchel rejected discard ID`"))
        }
    }

    struct Move: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a refused note again, whole, as a new note in another space, and forget the refusal.",
            discussion: """
                Example:
                  satchel rejected move a1b2c3-4 --space mission-cn-2026
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The refused change's id, or an unambiguous prefix.") var id: String
        @Option(help: ArgumentHelp("The space to write the note to.", valueName: "space")) var space: String

        func validate() throws { _ = try parseID(SpaceID.self, space) }

        func run() async throws {
            let space = try parseID(SpaceID.self, self.space)
            let (from, key) = try await global.withClient { client in
                let entry = try await RejectedCommand.find(id, client: client)
                return (entry.mutation.id, try await client.moveRejected(entry.mutation.id, to: space))
            }
            if global.json {
                Output.json(.object(["id": .string(from.rawValue), "note": .string(key.record.rawValue), "space": .string(space.rawValue)]))
            } else {
                Output.line("moved refused change \(from) to note \(key.record) in \(space) (it goes to the server with the next `satchel sync`)")
            }
        }
    }

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Forget a refused change (after reading why it was refused).",
            discussion: """
                Example:
                  satchel rejected discard a1b2c3-4
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The refused change's id, or an unambiguous prefix.") var id: String

        func run() async throws { try await RejectedCommand.discard(id, global: global) }
    }
}
