import Foundation
import SatchelProtocol
import SatchelTesting

/// Measures the wire encoding choice: the same pull page of notes as Satchel binary frames and
/// as JSON (Foundation's JSONEncoder, the obvious alternative), raw and zlib-compressed.
struct CodecBenchmark {
    var notes: Int
    var pageSize: Int
    var seed: UInt64

    struct Row {
        var name: String
        var encodeSeconds: Double
        var decodeSeconds: Double
        var rawBytes: Int
        var wireBytes: Int
    }

    /// The JSON shape a JSON protocol would send for the same change.
    struct JSONChange: Codable {
        var version: Int64
        var previousVersion: Int64
        var space: String
        var collection: String
        var record: String
        var kind: String
        var fields: [String: JSONValue]
        var clock: UInt64
        var mutation: String?
    }

    enum JSONValue: Codable {
        case string(String), text(String), timestamp(Int64), set([String])
    }

    struct JSONPage: Codable {
        var space: String
        var changes: [JSONChange]
        var cursor: Int64
        var hasMore: Bool
    }

    /// Words of real prose (the briefing dataset's summaries), so bodies compress like notes do.
    static func corpus() -> [String] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Data/china-briefing.json")
        guard let data = try? Data(contentsOf: path),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let entries = json["entries"] as? [[String: Any]]
        else { return "the delegation met cluster managers to discuss cooperation on batteries and robotics".split(separator: " ").map(String.init) }
        return entries.compactMap { $0["summary"] as? String }.joined(separator: " ").split(separator: " ").map(String.init)
    }

    func makeChanges() -> [Change] {
        var rng = SplitMix64(seed: seed)
        let words = Self.corpus()
        return (1...notes).map { i in
            // A run of consecutive words from a random place: real sentences, not a shuffled bag.
            var body = ""
            let target = Int.random(in: 500...2000, using: &rng)
            var at = Int.random(in: 0..<words.count, using: &rng)
            while body.utf8.count < target {
                body += words[at] + " "
                at = (at + 1) % words.count
            }
            let fields: [FieldName: FieldChange] = [
                "title": .set(.string("Note \(i): \(words.randomElement(using: &rng)!) \(words.randomElement(using: &rng)!)")),
                "body": .set(.text(body)),
                "tags": .set(.set((0..<3).map { _ in words.randomElement(using: &rng)! })),
                "createdAt": .set(.timestamp(1_796_000_000_000 + Int64(i) * 1000)),
            ]
            return Change(
                version: Int64(i), previousVersion: 0,
                key: RecordKey(space: "mission", collection: .notes, record: RecordID.random(using: &rng)),
                kind: .upsert, fields: fields, clock: HLC(millis: 1_796_000_000_000 + Int64(i), counter: 0),
                mutation: MutationID.random(using: &rng))
        }
    }

    func run() throws -> [Row] {
        let changes = makeChanges()
        let pages = stride(from: 0, to: changes.count, by: pageSize).map {
            PullResponse(space: "mission", changes: Array(changes[$0..<min($0 + pageSize, changes.count)]), cursor: Int64($0 + pageSize), hasMore: true, head: Int64(changes.count))
        }
        var rows: [Row] = []
        for (name, compression) in [("binary", Frame.Compression.none), ("binary+zlib6+dict", .default), ("binary+zlib1", Frame.Compression(level: 1, minimumBytes: 64, useDictionary: false))] {
            var frames: [[UInt8]] = []
            let encode = time { frames = pages.map { Frame.encode(.pullResponse($0), compression: compression) } }
            var decoded = 0
            let decode = try time {
                for f in frames { if case .pullResponse(let p) = try Frame.decode(f, maxPayloadBytes: 64 << 20) { decoded += p.changes.count } }
            }
            precondition(decoded == changes.count)
            let raw = pages.reduce(0) { $0 + $1.wireBytes.count }
            rows.append(Row(name: name, encodeSeconds: encode, decodeSeconds: decode, rawBytes: raw, wireBytes: frames.reduce(0) { $0 + $1.count }))
        }
        // The JSON baseline: same content, Foundation's coder, zlib 6 over each page.
        let jsonPages = pages.map { page in
            JSONPage(space: page.space.rawValue, changes: page.changes.map(Self.json), cursor: page.cursor, hasMore: page.hasMore)
        }
        let encoder = JSONEncoder()
        var blobs: [Data] = []
        let jsonEncode = try time { blobs = try jsonPages.map { try encoder.encode($0) } }
        let decoder = JSONDecoder()
        var count = 0
        let jsonDecode = try time { for b in blobs { count += try decoder.decode(JSONPage.self, from: b).changes.count } }
        precondition(count == changes.count)
        let jsonRaw = blobs.reduce(0) { $0 + $1.count }
        var jsonCompressed = 0
        let jsonZip = time {
            for b in blobs { jsonCompressed += Frame.encode(payload: [UInt8](b), type: 6, compression: Frame.Compression(level: 6, minimumBytes: 0, useDictionary: false)).count }
        }
        rows.append(Row(name: "JSON (baseline)", encodeSeconds: jsonEncode, decodeSeconds: jsonDecode, rawBytes: jsonRaw, wireBytes: jsonRaw))
        rows.append(Row(name: "JSON+zlib6 (baseline)", encodeSeconds: jsonEncode + jsonZip, decodeSeconds: jsonDecode, rawBytes: jsonRaw, wireBytes: jsonCompressed))
        return rows
    }

    static func json(_ c: Change) -> JSONChange {
        var fields: [String: JSONValue] = [:]
        for (k, v) in c.fields {
            guard case .set(let value) = v else { continue }
            switch value {
            case .string(let s): fields[k.rawValue] = .string(s)
            case .text(let s): fields[k.rawValue] = .text(s)
            case .timestamp(let t): fields[k.rawValue] = .timestamp(t)
            case .stringSet(let a): fields[k.rawValue] = .set(a)
            default: break
            }
        }
        return JSONChange(
            version: c.version, previousVersion: c.previousVersion, space: c.key.space.rawValue, collection: c.key.collection.rawValue,
            record: c.key.record.rawValue, kind: c.kind.rawValue, fields: fields, clock: c.clock.rawValue, mutation: c.mutation?.rawValue)
    }

    func time(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

