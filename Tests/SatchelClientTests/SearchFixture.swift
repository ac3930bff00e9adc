import Foundation
import SatchelBriefing
import SatchelProtocol
import SatchelSQLite
@testable import SatchelClient

/// A device store holding the real briefing (as a sync would leave it) and a few notes, built
/// without a server, for search tests and the CLI's search output.
enum SearchFixture {
    static let dataset = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Data/china-briefing.json").path

    /// The questions of `Fixtures/search-questions.txt`: (entry that must be in the top 3, question).
    static func questions() throws -> [(entry: String, question: String)] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/search-questions.txt").path
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("#") && $0.contains("|") }
            .map { line in
                let parts = line.split(separator: "|", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                return (parts[0], parts[1])
            }
    }

    static let day: Timestamp = 86_400_000
    /// 2026-11-30 00:00 UTC.
    static let nov30: Timestamp = 1_795_996_800_000

    static func note(_ id: String, title: String, body: String, tags: [String], author: String, updated: Timestamp) -> LocalRecord {
        let view: [FieldName: Value] = [
            "title": .string(title), "body": .text(body), "tags": .set(tags), "author": .string(author),
            "createdAt": .timestamp(updated), "updatedAt": .timestamp(updated),
        ]
        return LocalRecord(key: RecordKey(space: "mission", collection: .notes, record: RecordID(unchecked: id)), confirmedVersion: 1, confirmed: view, view: view)
    }

    /// Notes by two authors on three days, with tags.
    static let notes = [
        note("note-wuhan", title: "Optics Valley visit", body: "Met two fibre optic suppliers in Wuhan. They want a distributor in Europe.",
             tags: ["wuhan", "optics"], author: "ana", updated: nov30),
        note("note-smart", title: "Smart city workshop", body: "The urbanisation panel asked about EU partners for smart cities.",
             tags: ["beijing"], author: "bo", updated: nov30 + day),
        note("note-old", title: "Battery supplier", body: "An old note about lithium batteries and smart meters.",
             tags: ["suzhou"], author: "ana", updated: nov30 - 10 * day),
    ]

    /// Writes the briefing's entries and `notes` into the store at `path`.
    static func fill(_ path: String, notes: [LocalRecord] = notes) throws {
        var storage = try SQLiteReplicaStorage(path: path)
        defer { storage.close() }
        let entries = try Briefing.read(dataset)
        try storage.inTransaction { s in
            for (id, values) in entries.sorted(by: { $0.key < $1.key }) {
                try s.saveRecord(LocalRecord(key: RecordKey(space: Briefing.space, collection: .entries, record: id), confirmedVersion: 1, confirmed: values, view: values))
            }
            for note in notes { try s.saveRecord(note) }
        }
    }
}
