import Foundation
public import SatchelProtocol
import SatchelSQLite

/// The library an app embeds: a device's local store, its writes, search, conflicts and sync.
///
///     let client = try SatchelClient(directory: dataDir)
///     try await client.join(url: "https://sync.example.org", code: "K7QM-4TZP-XW2H", label: "ana-laptop")
///     let note = try await client.createNote(title: "Z-Park visit", body: "…", tags: ["beijing"])
///     let report = try await client.sync { progress in print(progress.pulled, "of", progress.toPull) }
///
/// Everything but `join`, `sync` and `watch` works offline.
public actor SatchelClient {
    public let directory: String
    var storage: SQLiteReplicaStorage
    let now: @Sendable () -> Int64
    let makeTransport: @Sendable (_ url: String, _ token: String, _ caFile: String?) throws -> any SyncTransport
    /// Whether a sync runs, and the syncs waiting for it (see `sync`).
    var syncing = false
    var waitingSyncs: [CheckedContinuation<Void, Never>] = []
    /// Milliseconds since 1970 from the system clock.
    public static let wallClock: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }

    /// The name sent to the server and shown to operators.
    public static let clientName = "satchel-client/0.1.0"

    /// Opens (creating if needed) the device's store in `directory`.
    public init(
        directory: String,
        now: @escaping @Sendable () -> Int64 = SatchelClient.wallClock,
        transport: (@Sendable (_ url: String, _ token: String, _ caFile: String?) throws -> any SyncTransport)? = nil
    ) throws {
        // The home holds the device's token and notes: its owner's only (0700, files 0600).
        try PrivateFiles.prepare(directory: directory)
        self.directory = directory
        self.storage = try SQLiteReplicaStorage(path: (directory as NSString).appendingPathComponent("satchel.sqlite"))
        self.now = now
        self.makeTransport = transport ?? { url, token, ca in try HTTPTransport(url: url, token: token, caFile: ca) }
    }

    /// Closes the store.
    public func close() { storage.close() }

    // MARK: joining

    /// Whether this device has joined a server.
    public var isJoined: Bool { (try? storage.metaString("device")) != nil }

    /// Enrolls this device with the code an operator made, and stores its credentials.
    ///
    /// `again`: a device that joined before takes the new identity instead of refusing. Its
    /// unsent writes go out under the new identity and every space is pulled again (`adoptIdentity`):
    /// for a machine told another one shares its identity (`device_copied`), or a revoked device
    /// given a new code.
    @discardableResult
    public func join(url: String, code: String, label: String, caFile: String? = nil, again: Bool = false) async throws -> (device: DeviceID, user: UserID) {
        if isJoined, !again, let server = try storage.metaString("server") {
            throw ClientError(code: "already_joined", "this device already joined \(server); use another --home to join a second server, or `join --again` to take a new identity here")
        }
        if again && isJoined {
            // A queued write whose answer was lost may be stored under the old identity: send the
            // outbox once more under it while its token works, so that only what the server did not
            // store goes out under the new one (and nothing is applied twice).
            try? await settleOutbox()
        }
        let (device, user, token) = try await HTTPTransport.enroll(url: url, code: code, label: label, client: Self.clientName, caFile: caFile)
        let known = isJoined ? try spaces().map(\.space) : []
        try storage.inTransaction { s in
            try s.setMetaString("server", url)
            try s.setMetaString("user", user.rawValue)
            try s.setMetaString("token", token)
            try s.setMetaString("ca_file", caFile)
            if known.isEmpty && !again {
                try s.saveDeviceState(DeviceState(device: device))
            } else {
                try s.adoptIdentity(device, spaces: known)
            }
        }
        return (device, user)
    }

    /// Sets credentials directly (tests and apps that enroll by other means).
    public func setCredentials(url: String, device: DeviceID, user: UserID, token: String) throws {
        try storage.inTransaction { s in
            try s.setMetaString("server", url)
            try s.setMetaString("user", user.rawValue)
            try s.setMetaString("token", token)
            try s.saveDeviceState(DeviceState(device: device))
        }
    }

    func transport() throws -> any SyncTransport {
        guard let url = try storage.metaString("server"), let token = try storage.metaString("token") else { throw ClientError.notJoined() }
        return try makeTransport(url, token, try storage.metaString("ca_file"))
    }

    // MARK: spaces

    /// The spaces this device may use, as of the last sync.
    public func spaces() throws -> [SpaceAccess] {
        guard let raw = try storage.meta("spaces") else { return [] }
        var r = WireReader(raw)
        return try r.array(minItemBytes: 4) { (r: inout WireReader) throws(FrameError) in try SpaceAccess(from: &r) }
    }

    /// Stores the spaces from a hello when which spaces, roles or horizons changed; their heads
    /// alone are stored with the end of a successful sync (one write less on every sync).
    func saveSpaces(_ spaces: [SpaceAccess]) throws {
        func shape(_ s: [SpaceAccess]) -> [String] { s.map { "\($0.space) \($0.role.rawValue) \($0.horizon)" } }
        if shape(try self.spaces()) != shape(spaces) { try storage.setMeta("spaces", Self.encode(spaces)) }
    }

    /// Stores the server's limits from a hello when they changed: writes are checked against
    /// them offline.
    func saveLimits(_ limits: Limits) throws {
        var w = WireWriter()
        limits.encode(to: &w)
        if try storage.meta("limits") != w.bytes { try storage.setMeta("limits", w.bytes) }
    }

    /// The most bytes one write may take: what one push carries, by the server's last known
    /// limits (the defaults before a first sync).
    func maxWriteBytes() throws -> Int {
        guard let raw = try storage.meta("limits") else { return Limits.default.maxPushMutationBytes }
        var r = WireReader(raw)
        return try Limits(from: &r).maxPushMutationBytes
    }

    static func encode(_ spaces: [SpaceAccess]) -> [UInt8] {
        var w = WireWriter()
        w.array(spaces) { w, s in s.encode(to: &w) }
        return w.bytes
    }

    /// The space new notes go to when none is named: the first the device can write.
    public func defaultSpace() throws -> SpaceID {
        guard let space = try spaces().first(where: { $0.role.canWrite })?.space else {
            throw ClientError(code: "no_space", "this device can write to no space yet; run `satchel sync` first, or ask your operator for writer access")
        }
        return space
    }

    // MARK: notes

    /// Creates a note; it is saved and searchable at once, and syncs with the next sync.
    @discardableResult
    public func createNote(space: SpaceID? = nil, title: String, body: String = "", tags: [String] = [], links: [RecordID] = []) throws -> RecordKey {
        var rng = SystemRandomNumberGenerator()
        let key = RecordKey(space: try space ?? defaultSpace(), collection: .notes, record: .random(using: &rng))
        try checkWritable(key.space)
        let t = now()
        var values: [FieldName: Value] = ["title": .string(title), "body": .text(body), "createdAt": .timestamp(t), "updatedAt": .timestamp(t)]
        if !tags.isEmpty { values["tags"] = .set(tags) }
        if !links.isEmpty { values["links"] = .references(links.map { Reference(collection: .entries, record: $0) }) }
        if let user = try storage.metaString("user") { values["author"] = .string(user) }
        try storage.write(.create, key, values: values, physicalMillis: t, maxBytes: try maxWriteBytes())
        return key
    }

    /// Changes the given fields of a note (nil leaves a field as it is).
    public func updateNote(_ key: RecordKey, title: String? = nil, body: String? = nil, tags: [String]? = nil, links: [RecordID]? = nil) throws {
        guard try storage.record(key)?.view != nil else { throw ClientError.notFound("note \(key.record)") }
        try checkWritable(key.space)
        var values: [FieldName: Value] = ["updatedAt": .timestamp(now())]
        if let title { values["title"] = .string(title) }
        if let body { values["body"] = .text(body) }
        if let tags { values["tags"] = .set(tags) }
        if let links { values["links"] = .references(links.map { Reference(collection: .entries, record: $0) }) }
        try storage.write(.patch, key, values: values, physicalMillis: now(), maxBytes: try maxWriteBytes())
    }

    /// Deletes a note.
    public func deleteNote(_ key: RecordKey) throws {
        guard try storage.record(key)?.view != nil else { throw ClientError.notFound("note \(key.record)") }
        try checkWritable(key.space)
        try storage.write(.delete, key, physicalMillis: now(), maxBytes: try maxWriteBytes())
    }

    /// The notes the user can see, newest first.
    public func notes(space: SpaceID? = nil) throws -> [(key: RecordKey, values: [FieldName: Value])] {
        try storage.visible(collection: .notes, space: space).sorted {
            ($0.values["updatedAt"].flatMap { if case .timestamp(let t) = $0 { t } else { nil } } ?? 0)
                > ($1.values["updatedAt"].flatMap { if case .timestamp(let t) = $0 { t } else { nil } } ?? 0)
        }
    }

    /// A record as the device holds it.
    public func record(_ key: RecordKey) throws -> LocalRecord? { try storage.record(key) }

    /// Finds a visible record by its id, or an unambiguous prefix of it (at least 4 characters);
    /// with `deleted`, one the device holds deleted instead (to restore it).
    public func find(_ id: String, deleted: Bool = false) throws -> RecordKey {
        let matches = try storage.db.query(
            "SELECT space, collection, record FROM records WHERE (view IS NOT NULL) = ? AND (record = ? OR (length(?) >= 4 AND record LIKE ? || '%')) LIMIT 3",
            deleted ? 0 : 1, id, id, id
        ) { RecordKey(space: SpaceID(unchecked: $0.string(at: 0)), collection: Name(stringLiteral: $0.string(at: 1)), record: RecordID(unchecked: $0.string(at: 2))) }
        if let exact = matches.first(where: { $0.record.rawValue == id }) { return exact }
        guard matches.count == 1 else {
            throw matches.isEmpty ? ClientError.notFound("record '\(id)'") : ClientError(code: "ambiguous", "'\(id)' matches several records; give more of the id")
        }
        return matches[0]
    }

    /// Full-text search over notes and briefing entries, best first, with snippets.
    public func search(_ text: String, filter: SearchFilter = SearchFilter()) throws -> [SearchHit] {
        try searchResults(text, filter: filter).hits
    }

    /// The same search with how it was found: the words searched for (stop words left out)
    /// and whether it fell back to the best matches for any of them (`fallbackLine`).
    ///
    /// ```swift
    /// let found = try await client.searchResults("EU project with China on smart cities", filter: SearchFilter(kind: "project"))
    /// if let line = found.fallbackLine { print(line) }
    /// for hit in found.hits { print(hit.title, hit.snippet(marking: { "[\($0)]" }), hit.facts) }
    /// ```
    public func searchResults(_ text: String, filter: SearchFilter = SearchFilter()) throws -> SearchResults {
        try storage.read { try SearchIndex.search(storage.db, text, filter: filter) }
    }

    /// The FTS5 query a search for `text` runs first (every word, as index terms), or nil when
    /// there is nothing to search: for measuring a search beside the bare FTS5 query.
    public static func fullTextQuery(_ text: String) -> String? {
        let query = SearchQuery(text)
        return query.isEmpty ? nil : query.fts(all: true)
    }

    // MARK: conflicts and rejections

    /// Open conflicts, oldest first.
    public func conflicts() throws -> [ConflictInfo] {
        try storage.visible(collection: .conflicts).compactMap { key, v in
            guard case .string(let collection)? = v["collection"], case .string(let record)? = v["record"],
                  let c = try? Name(collection), let r = try? RecordID(record) else { return nil }
            return ConflictInfo(
                id: key, kind: v["kind"]?.textValue.flatMap(ConflictKind.init(rawValue:)),
                record: RecordKey(space: key.space, collection: c, record: r),
                field: v["field"]?.textValue.flatMap { try? Name($0) },
                kept: v["kept"] ?? .null, winner: v["winner"] ?? .null, keptDevice: v["keptDevice"]?.textValue)
        }
    }

    /// Resolves a conflict: writes the chosen value (if any) and removes the conflict record; both
    /// sync like any other change.
    public func resolve(_ conflict: RecordKey, with resolution: Resolution) throws {
        guard let info = try conflicts().first(where: { $0.id == conflict }) else { throw ClientError.notFound("conflict \(conflict.record)") }
        let t = now()
        switch resolution {
        case .keepWinner:
            break
        case .restoreKept, .value:
            guard let field = info.field else {
                throw ClientError(code: "not_a_field_conflict", "this conflict is about the whole record; keep it (--keep) or delete the record (--delete)")
            }
            var value = info.kept
            if case .value(let v) = resolution { value = v }
            if try storage.record(info.record)?.view == nil {
                throw ClientError.notFound("record \(info.record.record) (deleted meanwhile)")
            }
            try storage.write(.patch, info.record, values: [field: value], physicalMillis: t, maxBytes: try maxWriteBytes())
        case .delete:
            if try storage.record(info.record)?.view != nil { try storage.write(.delete, info.record, physicalMillis: t) }
        }
        try storage.write(.delete, conflict, physicalMillis: t, maxBytes: try maxWriteBytes())
    }

    /// Writes the server refused, with the reasons.
    public func rejected() throws -> [OutboxEntry] { try storage.rejectedEntries() }

    /// Forgets a rejected write (after reading why it was refused).
    public func discardRejected(_ mutation: MutationID) throws {
        guard let entry = try storage.outboxEntry(mutation), entry.isRejected else { throw ClientError.notFound("rejected change \(mutation)") }
        try storage.removeOutbox(seq: entry.seq)
    }

    // MARK: status

    public func status() throws -> SyncStatus {
        SyncStatus(
            server: try storage.metaString("server"), device: try? storage.deviceState().device,
            user: try storage.metaString("user").map { UserID(unchecked: $0) },
            lastSuccess: try storage.metaString("last_success").flatMap { Int64($0) },
            lastError: try storage.metaString("last_error"), lastErrorAt: try storage.metaString("last_error_at").flatMap { Int64($0) },
            pending: try storage.pendingCount(), rejected: try storage.rejectedEntries().count,
            conflicts: try conflicts().count, spaces: try spaces())
    }
}
