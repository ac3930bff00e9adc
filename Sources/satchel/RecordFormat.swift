import Foundation
import SatchelClient
import SatchelProtocol

/// How values and records read, for people and as JSON.
enum RecordFormat {
    /// One value on one line: sets as comma lists, timestamps as ISO dates, references by id.
    static func human(_ value: Value) -> String {
        switch value {
        case .null: "—"
        case .string(let s), .text(let s): s
        case .integer(let i): String(i)
        case .number(let d): String(d)
        case .boolean(let b): b ? "yes" : "no"
        case .timestamp(let t): Format.localDate(t)
        case .stringSet(let a): a.joined(separator: ", ")
        case .reference(let r): r.record.rawValue
        case .referenceSet(let a): a.map(\.record.rawValue).joined(separator: ", ")
        }
    }

    /// A value as JSON: sets as arrays, timestamps as ISO dates, references as record ids.
    static func json(_ value: Value) -> JSON {
        switch value {
        case .null: .null
        case .string(let s), .text(let s): .string(s)
        case .integer(let i): .int(i)
        case .number(let d): .double(d)
        case .boolean(let b): .bool(b)
        case .timestamp(let t): .string(Format.date(t))
        case .stringSet(let a): .array(a.map { .string($0) })
        case .reference(let r): .string(r.record.rawValue)
        case .referenceSet(let a): .array(a.map { .string($0.record.rawValue) })
        }
    }

    static func json(_ fields: [FieldName: Value]) -> JSON {
        .object(Dictionary(uniqueKeysWithValues: fields.map { ($0.key.rawValue, json($0.value)) }))
    }

    /// The record as JSON: where it is, its server version, whether it has unsynced changes, its fields.
    static func json(_ record: LocalRecord) -> JSON {
        .object([
            "id": .string(record.key.record.rawValue),
            "space": .string(record.key.space.rawValue),
            "collection": .string(record.key.collection.rawValue),
            "version": .int(record.confirmedVersion),
            "synced": .bool(record.confirmedVersion > 0 && record.confirmed == record.view),
            "fields": json(record.view ?? [:]),
        ])
    }

    /// The record for people: a heading, one field per line, long text last.
    static func human(_ record: LocalRecord, linkNames: [RecordID: String] = [:]) -> String {
        let key = record.key
        let view = record.view ?? [:]
        let state: String
        if record.confirmedVersion == 0 {
            state = "not synced yet"
        } else if record.confirmed != record.view {
            state = "version \(record.confirmedVersion), changed here since"
        } else {
            state = "version \(record.confirmedVersion), synced"
        }
        var lines = ["\(Terminal.bold(CollectionNoun.of(key.collection) + " " + key.record.rawValue)) in \(key.space)  (\(state))"]
        let isText = { (name: FieldName) in if case .text = view[name] { true } else { false } }
        let first: [FieldName] = ["title", "name", "kind"]
        let names = first.filter { view[$0] != nil }
            + view.keys.filter { !first.contains($0) && !isText($0) }.sorted()
        let width = (names.map(\.rawValue.count).max() ?? 0) + 2
        for name in names {
            var text = human(view[name]!)
            if case .referenceSet(let refs) = view[name]! {
                text = refs.map { ref in linkNames[ref.record].map { "\(ref.record) (\($0))" } ?? ref.record.rawValue }
                    .joined(separator: ", ")
            }
            lines.append("  " + (name.rawValue + ":").padding(toLength: width, withPad: " ", startingAt: 0) + text)
        }
        for name in view.keys.filter(isText).sorted() {
            let text = human(view[name]!)
            lines.append("")
            lines.append("  \(name):")
            lines.append(contentsOf: text.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 })
        }
        return lines.joined(separator: "\n")
    }

    /// The names of the records a record links to, for display (those this device holds).
    static func linkNames(_ record: LocalRecord, client: SatchelClient) async -> [RecordID: String] {
        var names: [RecordID: String] = [:]
        for value in (record.view ?? [:]).values {
            guard case .referenceSet(let refs) = value else { continue }
            for ref in refs {
                if let key = try? await client.lookup(ref.record.rawValue), let view = try? await client.record(key)?.view,
                   let name = (view["name"] ?? view["title"])?.textValue {
                    names[ref.record] = name
                }
            }
        }
        return names
    }
}
