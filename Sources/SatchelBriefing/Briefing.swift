import Foundation
public import SatchelProtocol
public import SatchelServerCore

/// The mission briefing as reference data: `Data/china-briefing.json` (see `Data/README.md`)
/// loaded into the `briefing` space, which every user reads and only operators change.
public enum Briefing {
    public static let space: SpaceID = "briefing"

    struct File: Decodable {
        var entries: [Entry]
    }

    struct Entry: Decodable {
        var id: String
        var kind: String
        var name: String
        var aliases: [String]?
        var section: String?
        var summary: String?
        var city: String?
        var province: String?
        var cities: [String]?
        var sectors: [String]?
        var year: Int64?
        var years: String?
        var website: String?
        var companies: [String]?
        var figures: [String]?
        var related: [String]?
    }

    /// The dataset's entries as record values, by record id.
    public static func read(_ path: String) throws -> [RecordID: [FieldName: Value]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw Rejection(.invalidValue, "'\(path)' is not a briefing dataset (\(error)); see Data/README.md for its shape")
        }
        var out: [RecordID: [FieldName: Value]] = [:]
        for e in file.entries {
            let id = try RecordID(e.id)
            guard out[id] == nil else { throw Rejection(.invalidValue, "entry id '\(e.id)' appears twice in '\(path)'") }
            var v: [FieldName: Value] = ["kind": .string(e.kind), "name": .string(e.name)]
            func put(_ name: FieldName, _ s: String?) { if let s, !s.isEmpty { v[name] = .string(s) } }
            func put(_ name: FieldName, _ a: [String]?) { if let a, !a.isEmpty { v[name] = .set(a) } }
            put("aliases", e.aliases)
            put("section", e.section)
            if let s = e.summary, !s.isEmpty { v["summary"] = .text(s) }
            put("city", e.city)
            put("province", e.province)
            put("cities", e.cities)
            put("sectors", e.sectors)
            if let y = e.year { v["year"] = .integer(y) }
            put("years", e.years)
            put("website", e.website)
            put("companies", e.companies)
            put("figures", e.figures)
            if let r = e.related, !r.isEmpty { v["related"] = .references(try r.map { Reference(collection: .entries, record: try RecordID($0)) }) }
            out[id] = v
        }
        for (id, values) in out {
            if case .referenceSet(let refs)? = values["related"], let missing = refs.first(where: { out[$0.record] == nil }) {
                throw Rejection(.invalidValue, "entry '\(id)' refers to '\(missing.record)', which is not in the dataset")
            }
        }
        return out
    }

    /// The operator mutations that bring the stored entries to `dataset`: creates for new
    /// entries, patches of only the changed fields, deletes for entries no longer there.
    /// Loading the same dataset twice yields no mutations.
    public static func mutations(
        dataset: [RecordID: [FieldName: Value]], current: [RecordKey: RecordState], device: DeviceID, clock: HLC,
        using rng: inout some RandomNumberGenerator
    ) -> [Mutation] {
        var out: [Mutation] = []
        func mutation(_ key: RecordKey, _ op: Mutation.Operation, base: Version, _ changes: [FieldName: FieldChange]) -> Mutation {
            Mutation(id: .random(using: &rng), device: device, counter: UInt64(out.count + 1), clock: clock, key: key, baseVersion: base, operation: op, changes: changes)
        }
        for id in dataset.keys.sorted() {
            let key = RecordKey(space: space, collection: .entries, record: id)
            let values = dataset[id]!
            guard let state = current[key], !state.deleted else {
                out.append(mutation(key, .create, base: 0, values.mapValues { .set($0) }))
                continue
            }
            let old = state.values
            var changes: [FieldName: FieldChange] = [:]
            for name in Set(values.keys).union(old.keys) where values[name] != old[name] && !(values[name] == nil && old[name] == .null) {
                changes[name] = .set(values[name] ?? .null)
            }
            if !changes.isEmpty { out.append(mutation(key, .patch, base: state.version, changes)) }
        }
        for (key, state) in current.sorted(by: { $0.key < $1.key }) where !state.deleted && dataset[key.record] == nil {
            out.append(mutation(key, .delete, base: state.version, [:]))
        }
        return out
    }

    /// What a load did.
    public struct LoadReport: Hashable, Sendable {
        public var entries = 0
        public var created = 0
        public var changed = 0
        public var removed = 0
        public var head: Version = 0
    }

    /// Loads `path` into the store's briefing space (creating it, readable by everyone).
    public static func load(_ path: String, into store: any ServerStore, now: Timestamp) async throws -> LoadReport {
        let dataset = try read(path)
        if try await !store.allSpaces().contains(space) { try await store.createSpace(space, now: now) }
        try await store.setEveryoneReads(space, true)
        var rng = SystemRandomNumberGenerator()
        let current = try await store.records(in: space, collection: .entries)
        let all = mutations(dataset: dataset, current: current, device: "operator", clock: HLC(millis: now, counter: 0), using: &rng)
        var report = LoadReport(entries: dataset.count)
        for chunk in stride(from: 0, to: all.count, by: 500) {
            let batch = Array(all[chunk..<min(chunk + 500, all.count)])
            for (m, r) in zip(batch, try await store.operatorWrite(batch)) {
                if let rejection = r.rejection { throw rejection }
                switch m.operation {
                case .create: report.created += 1
                case .patch: report.changed += 1
                case .delete: report.removed += 1
                }
            }
        }
        report.head = try await store.head(of: space).head
        return report
    }
}
