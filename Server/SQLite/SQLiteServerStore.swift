import Foundation
public import SatchelProtocol
public import SatchelServerCore
public import SatchelSQLite
public import ServiceLifecycle
import Synchronization

/// The embedded default store: one SQLite file in WAL mode with full fsync, so everything a push
/// acknowledges survives a kill -9 or power loss.
///
/// Writes go through one connection owned by this actor (SQLite has one writer anyway), and
/// pushes are group-committed: see `write(_:asOperator:)`. Reads on the request path (tokens,
/// memberships, pulls, heads) use a pool of read-only connections instead, so they see the last
/// commit without queueing behind writes.
public actor SQLiteServerStore: ServerStore {
    /// The writer's statements block (fsync, another connection's lock): they run on a queue of
    /// their own, never on Swift's cooperative threads.
    nonisolated let executor = DispatchQueueExecutor(label: "satchel.store.writer")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    private var db: Database?
    /// Read-only connections for reads that must not wait behind the writer.
    nonisolated let readers: ReaderPool
    private let checkpointer: Checkpointer
    /// Pushes waiting for the next group commit.
    private var queuedWrites: [QueuedWrite] = []
    private var commitScheduled = false
    /// Transactions that committed queued pushes, for tests.
    private(set) var groupCommits = 0
    /// Last-seen times and pull progress not yet written: bookkeeping for the operator's view,
    /// noted without waiting for the writer and written with the next commit, rather than with
    /// an fsync of its own on every sync.
    private nonisolated let bookkeeping = Mutex(Bookkeeping())
    let schema: Schema
    /// The database file, for operations that use their own connection (backup).
    public nonisolated let path: String
    /// Wall-clock milliseconds, stamped on changes for retention; injected so tests control it.
    let clock: @Sendable () -> Timestamp
    public nonisolated let feed = ChangeFeed()
    /// Publishes every writer's commits to `feed` (see `SQLiteFeedTail`).
    nonisolated let tail: SQLiteFeedTail

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    /// `feedPollInterval`: how often the feed looks for other writers' commits (this object's
    /// own are published at once).
    public init(
        path: String, schema: Schema = .standard, clock: @escaping @Sendable () -> Timestamp = StoreDefaults.wallClock,
        feedPollInterval: Duration = .milliseconds(250)
    ) throws {
        let db = try Database(configuration: DatabaseConfiguration(path: path, synchronous: .full))
        _ = try Self.migrator.migrate(db)
        let position = try SQLiteFeedTail.position(db)
        // 8 MiB of page cache instead of SQLite's 2 MB: pushes look up `mutations` and
        // `records` pages that would otherwise be read back from the file each time.
        _ = try db.query("PRAGMA cache_size = -8192") { _ in () }
        self.db = db
        // Checkpoints run beside the writer, not inside the commit that fills the log.
        checkpointer = try Checkpointer(path: path)
        checkpointer.attach(to: db)
        // Readers scan in order (pulls, snapshots) or look up a row (tokens): a small cache each.
        // Four cover the two cores of this kind of machine with room for reads that wait on I/O;
        // more callers wait for one rather than open more.
        readers = ReaderPool(path: path, maxConnections: 4) { try $0.execute("PRAGMA cache_size = -1024") }
        tail = SQLiteFeedTail(readers: readers, feed: feed, from: position, interval: feedPollInterval)
        self.schema = schema
        self.path = path
        self.clock = clock
    }

    public nonisolated var backgroundServices: [any Service] { [tail] }

    /// Writes `event` for the feed in the current transaction; `published()` after the commit.
    func record(_ event: StoreEvent, _ db: Database) throws {
        try FeedEventRow.write(event, at: clock(), db)
    }

    /// Tells the feed's tail that this object committed: it reads and publishes at once.
    nonisolated func published() { tail.wake.signal() }

    func database() throws -> Database {
        guard let db else { throw StoreError(.closed, "the store is closed") }
        return db
    }

    public func close() {
        if db != nil { try? writeBookkeeping() }
        readers.close()
        db?.close()
        db = nil
        checkpointer.close()
        feed.finish()
    }

    /// Runs `body` on a read-only connection, outside the actor and off the cooperative pool;
    /// refused once the store is closed.
    nonisolated func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await readers.read(body)
        } catch let error as SQLiteError where error.code == 21 {
            throw StoreError(.closed, "the store is closed")
        }
    }

    // MARK: spaces, users, memberships

    public func createSpace(_ space: SpaceID, now: Timestamp) throws {
        let db = try database()
        do {
            try db.run("INSERT INTO spaces (id, created_at) VALUES (?, ?)", space.rawValue, now)
        } catch let error as SQLiteError where error.isConstraintViolation {
            throw StoreError(.spaceExists, "space '\(space)' already exists")
        }
    }

    public func createUser(_ user: UserID, now: Timestamp) throws {
        let db = try database()
        do {
            try db.run("INSERT INTO users (id, created_at) VALUES (?, ?)", user.rawValue, now)
        } catch let error as SQLiteError where error.isConstraintViolation {
            throw StoreError(.userExists, "user '\(user)' already exists")
        }
    }

    public func setRole(_ role: Role?, user: UserID, space: SpaceID) throws {
        let db = try database()
        try db.transaction {
            try requireSpace(space, db)
            try requireUser(user, db)
            if let role {
                try db.run("INSERT OR REPLACE INTO memberships (space, user, role) VALUES (?, ?, ?)", space.rawValue, user.rawValue, role.rawValue)
            } else {
                try db.run("DELETE FROM memberships WHERE space = ? AND user = ?", space.rawValue, user.rawValue)
            }
        }
    }

    private func requireSpace(_ space: SpaceID, _ db: Database) throws {
        guard try !db.query("SELECT 1 FROM spaces WHERE id = ?", space.rawValue, map: { _ in () }).isEmpty else {
            throw StoreError(.unknownSpace, "space '\(space)' does not exist; create it with `satchel-server space create \(space)`")
        }
    }

    private func requireUser(_ user: UserID, _ db: Database) throws {
        guard try !db.query("SELECT 1 FROM users WHERE id = ?", user.rawValue, map: { _ in () }).isEmpty else {
            throw StoreError(.unknownUser, "user '\(user)' does not exist; add it with `satchel-server user add \(user)`")
        }
    }

    public nonisolated func spaces(of user: UserID) async throws -> [SpaceAccess] {
        try await read { db in try Self.spaces(of: user, db) }
    }

    static func spaces(of user: UserID, _ db: Database) throws -> [SpaceAccess] {
        try db.query(
            """
            SELECT s.id, coalesce(m.role, 'reader'), s.horizon, max(s.horizon, (SELECT coalesce(max(version), 0) FROM changes c WHERE c.space = s.id))
            FROM spaces s LEFT JOIN memberships m ON m.space = s.id AND m.user = ?
            WHERE m.user IS NOT NULL OR s.everyone_reads = 1
            ORDER BY s.id
            """, user.rawValue
        ) { row in
            SpaceAccess(
                space: SpaceID(unchecked: row.string(at: 0)), role: Role(rawValue: row.string(at: 1)) ?? .reader,
                head: row.int64(at: 3), horizon: row.int64(at: 2))
        }
    }

    public func setEveryoneReads(_ space: SpaceID, _ everyoneReads: Bool) throws {
        let db = try database()
        try requireSpace(space, db)
        try db.run("UPDATE spaces SET everyone_reads = ? WHERE id = ?", everyoneReads, space.rawValue)
    }

    public nonisolated func allSpaces() async throws -> [SpaceID] {
        try await read { try $0.query("SELECT id FROM spaces ORDER BY id") { SpaceID(unchecked: $0.string(at: 0)) } }
    }

    // MARK: enrollment and devices

    public func createEnrollment(codeHash: [UInt8], user: UserID, label: String?, expiresAt: Timestamp, now: Timestamp) throws {
        let db = try database()
        try db.transaction {
            try requireUser(user, db)
            try db.run(
                "INSERT INTO enrollments (code_hash, user, label, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                codeHash, user.rawValue, label, now, expiresAt)
        }
    }

    public func redeemEnrollment(codeHash: [UInt8], device: DeviceID, label: String?, tokenHash: [UInt8], client: String?, now: Timestamp) throws -> DeviceInfo {
        let db = try database()
        return try db.transaction {
            let rows = try db.query("SELECT user, label, expires_at, used_at FROM enrollments WHERE code_hash = ?", codeHash) { row in
                (UserID(unchecked: row.string(at: 0)), row.isNull(at: 1) ? nil : row.string(at: 1), row.int64(at: 2), row.isNull(at: 3) ? nil : row.int64(at: 3))
            }
            guard let (user, codeLabel, expiresAt, usedAt) = rows.first else {
                throw StoreError(.enrollmentInvalid, "this enrollment code is not valid; check it, or ask your operator for a new one")
            }
            if usedAt != nil {
                throw StoreError(.enrollmentUsed, "this enrollment code was already used; ask your operator for a new one")
            }
            if expiresAt <= now {
                throw StoreError(.enrollmentExpired, "this enrollment code has expired; ask your operator for a new one")
            }
            let info = DeviceInfo(id: device, user: user, label: label ?? codeLabel ?? device.rawValue, client: client, createdAt: now, lastSeenAt: now)
            try db.run(
                "INSERT INTO devices (id, user, label, token_hash, client, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                device.rawValue, user.rawValue, info.label, tokenHash, client, now, now)
            try db.run("UPDATE enrollments SET used_at = ?, device = ? WHERE code_hash = ?", now, device.rawValue, codeHash)
            return info
        }
    }

    private static let deviceColumns = "id, user, label, client, created_at, last_seen_at, revoked_at, (SELECT u.disabled_at IS NOT NULL FROM users u WHERE u.id = devices.user)"

    private static func deviceInfo(_ row: Row) -> DeviceInfo {
        DeviceInfo(
            id: DeviceID(unchecked: row.string(at: 0)), user: UserID(unchecked: row.string(at: 1)), label: row.string(at: 2),
            client: row.isNull(at: 3) ? nil : row.string(at: 3), createdAt: row.int64(at: 4),
            lastSeenAt: row.isNull(at: 5) ? nil : row.int64(at: 5), revokedAt: row.isNull(at: 6) ? nil : row.int64(at: 6),
            userDisabled: row.bool(at: 7))
    }

    public nonisolated func device(tokenHash: [UInt8]) async throws -> DeviceInfo? {
        try await read { try $0.query("SELECT \(Self.deviceColumns) FROM devices WHERE token_hash = ?", tokenHash, map: Self.deviceInfo).first }.map(withNoted)
    }

    public nonisolated func device(_ id: DeviceID) async throws -> DeviceInfo? {
        try await read { try $0.query("SELECT \(Self.deviceColumns) FROM devices WHERE id = ?", id.rawValue, map: Self.deviceInfo).first }.map(withNoted)
    }

    /// The device as stored, with a last-seen time noted since the last commit.
    private nonisolated func withNoted(_ info: DeviceInfo) -> DeviceInfo {
        guard let seen = bookkeeping.withLock({ $0.seen[info.id] }) else { return info }
        var info = info
        info.lastSeenAt = max(info.lastSeenAt ?? 0, seen.at)
        info.client = seen.client ?? info.client
        return info
    }

    public nonisolated func touch(_ device: DeviceID, client: String?, now: Timestamp) throws {
        note { $0.touch(device, client: client, now: now) }
    }

    public func revoke(_ device: DeviceID, now: Timestamp) throws {
        let db = try database()
        try db.transaction {
            guard try db.run("UPDATE devices SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", now, device.rawValue) == 1 else {
                throw StoreError(.unknownDevice, "device '\(device)' does not exist; `satchel-server device list` shows the devices")
            }
            try record(.revoked(device: device), db)
        }
        published()
    }

    // MARK: operators and the per-device view

    public func createOperatorToken(hash: [UInt8], label: String, now: Timestamp) throws {
        try database().run("INSERT INTO operator_tokens (token_hash, label, created_at) VALUES (?, ?, ?)", hash, label, now)
    }

    public nonisolated func operatorToken(hash: [UInt8]) async throws -> String? {
        try await read { try $0.query("SELECT label FROM operator_tokens WHERE token_hash = ?", hash) { $0.string(at: 0) }.first }
    }

    public func devices(of user: UserID?) throws -> [DeviceInfo] {
        try writeBookkeeping()
        return try database().query(
            "SELECT \(Self.deviceColumns) FROM devices WHERE ? IS NULL OR user = ? ORDER BY user, label, id",
            user?.rawValue, user?.rawValue, map: Self.deviceInfo)
    }

    public func users() throws -> [UserInfo] {
        try database().query("SELECT id, created_at, disabled_at FROM users ORDER BY id") {
            UserInfo(id: UserID(unchecked: $0.string(at: 0)), createdAt: $0.int64(at: 1), disabledAt: $0.isNull(at: 2) ? nil : $0.int64(at: 2))
        }
    }

    public func disableUser(_ user: UserID, now: Timestamp) throws {
        let db = try database()
        try db.transaction {
            try requireUser(user, db)
            try db.run("UPDATE users SET disabled_at = coalesce(disabled_at, ?) WHERE id = ?", now, user.rawValue)
            try record(.userDisabled(user: user), db)
        }
        published()
    }

    public nonisolated func recordPull(device: DeviceID, space: SpaceID, cursor: Version, now: Timestamp) throws {
        note { $0.cursors.append(PullMark(device: device, space: space, cursor: cursor, at: now)) }
    }

    private nonisolated func note(_ change: (inout Bookkeeping) -> Void) {
        let flush = bookkeeping.withLock { b in
            change(&b)
            // Written with the next push's commit; a server that only serves reads writes them
            // in batches, asking for one commit at a time.
            guard b.cursors.count + b.seen.count >= 256, !b.flushAsked else { return false }
            b.flushAsked = true
            return true
        }
        if flush { Task { await self.scheduleCommit() } }
    }

    public func flushActivity() throws { try writeBookkeeping() }

    /// Writes the bookkeeping noted since the last commit, in the current transaction if any.
    private func writeBookkeeping() throws {
        let pending = bookkeeping.withLock { $0 }
        guard !pending.cursors.isEmpty || !pending.seen.isEmpty else { return }
        let db = try database()
        try db.transaction {
            for mark in pending.cursors {
                try db.run(
                    "INSERT OR REPLACE INTO device_cursors (device, space, cursor, pulled_at) VALUES (?, ?, ?, ?)",
                    mark.device.rawValue, mark.space.rawValue, mark.cursor, mark.at)
            }
            for (device, seen) in pending.seen {
                try db.run(
                    "UPDATE devices SET last_seen_at = max(coalesce(last_seen_at, 0), ?), client = coalesce(?, client) WHERE id = ?",
                    seen.at, seen.client, device.rawValue)
            }
        }
        // Only this actor removes, and notes are appended: what was written is still first.
        bookkeeping.withLock { $0.remove(written: pending) }
    }

    public func recordRejections(_ results: [MutationResult], device: DeviceID, now: Timestamp) throws {
        let db = try database()
        do {
            try db.transaction {
                for r in results {
                    guard let reason = r.rejection else { continue }
                    try db.run("INSERT INTO rejections (device, mutation, code, message, at) VALUES (?, ?, ?, ?, ?)",
                               device.rawValue, r.mutation.rawValue, reason.code.rawValue, reason.message, now)
                }
            }
        } catch let error as SQLiteError where error.isFull {
            // The operator's list of refusals is written after the push it comes from committed:
            // a full disk must not turn that push's answer into an error. The device has its
            // refusals in the answer; only the list misses them.
        }
    }

    public func activity(of device: DeviceID) throws -> DeviceActivity {
        let db = try database()
        try writeBookkeeping()
        guard let info = try db.query("SELECT \(Self.deviceColumns) FROM devices WHERE id = ?", device.rawValue, map: Self.deviceInfo).first else {
            throw StoreError(.unknownDevice, "device '\(device)' does not exist; `satchel-server device list` shows the devices")
        }
        var progress: [DeviceActivity.SpaceProgress] = []
        for access in try Self.spaces(of: info.user, db) {
            let row = try db.query("SELECT cursor, pulled_at FROM device_cursors WHERE device = ? AND space = ?", device.rawValue, access.space.rawValue) {
                ($0.int64(at: 0), $0.int64(at: 1))
            }.first
            let cursor = row?.0 ?? 0
            let behind = try db.query("SELECT count(*) FROM changes WHERE space = ? AND version > ?", access.space.rawValue, cursor) { $0.int(at: 0) }[0]
            progress.append(.init(space: access.space, cursor: cursor, pulledAt: row?.1, behind: behind))
        }
        let rejected = try db.query("SELECT mutation, code, message FROM rejections WHERE device = ? ORDER BY seq DESC LIMIT 20", device.rawValue) {
            MutationResult(mutation: MutationID(unchecked: $0.string(at: 0)), status: .rejected, version: 0,
                           rejection: Rejection(RejectionCode(rawValue: $0.string(at: 1)), $0.string(at: 2)))
        }
        let conflicts = try db.query("SELECT space, record, state FROM records WHERE collection = 'conflicts'") { row in
            (RecordKey(space: SpaceID(unchecked: row.string(at: 0)), collection: .conflicts, record: RecordID(unchecked: row.string(at: 1))), try RecordState(wireBytes: row.blob(at: 2)))
        }.filter { !$0.1.deleted && $0.1.values["keptDevice"] == .string(device.rawValue) }.map(\.0)
        return DeviceActivity(spaces: progress, rejected: rejected, openConflicts: conflicts.sorted())
    }

    // MARK: sync

    public func push(_ mutations: [Mutation]) async throws -> [MutationResult] {
        try await write(mutations, asOperator: false)
    }

    public func operatorWrite(_ mutations: [Mutation]) async throws -> [MutationResult] {
        try await write(mutations, asOperator: true)
    }

    /// Group commit: a push waits in a queue, and one transaction (one fsync) applies all the
    /// pushes queued by the time it starts. While it commits, new pushes queue for the next one,
    /// so under load the cost of an fsync is shared instead of paid by each push in turn. Each
    /// push runs in a savepoint of its own: a storage error fails that push alone. No push is
    /// answered before the transaction holding it is durable.
    private func write(_ mutations: [Mutation], asOperator: Bool) async throws -> [MutationResult] {
        try await withCheckedThrowingContinuation { reply in
            queuedWrites.append(QueuedWrite(mutations: mutations, asOperator: asOperator, reply: reply))
            scheduleCommit()
        }
    }

    private func scheduleCommit() {
        guard !commitScheduled else { return }
        commitScheduled = true
        // Runs after the calls already waiting for this actor, which join the commit.
        Task { await self.commitQueued() }
    }

    private func commitQueued() {
        commitScheduled = false
        let batch = QueuedWrite.nextCommit(from: &queuedWrites, budget: Self.mutationsPerCommit)
        if !queuedWrites.isEmpty { scheduleCommit() }
        var outcomes: [Result<[MutationResult], any Error>] = []
        do {
            let db = try database()
            try db.transaction(.immediate) {
                let now = clock()
                var log = try SQLiteChangeLog(db: db, schema: schema, now: now)
                for queued in batch {
                    do {
                        let results = try db.transaction {
                            try log.apply(queued.mutations, asOperator: queued.asOperator)
                        }
                        outcomes.append(.success(results))
                    } catch {
                        // After some errors (full disk, I/O) SQLite rolls back the whole
                        // transaction: then every push of the batch fails, none is half-applied.
                        guard db.isInTransaction else { throw error }
                        // Only the savepoint was rolled back: read the head again.
                        outcomes.append(.failure(error))
                        log = try SQLiteChangeLog(db: db, schema: schema, now: now)
                    }
                }
                // Bookkeeping: a failure here must not fail the pushes; it is tried again later.
                // But a full disk can roll back the whole transaction, pushes included: then
                // they fail with it, rather than be answered as if applied.
                do {
                    try db.transaction { try writeBookkeeping() }
                } catch {
                    guard db.isInTransaction else { throw error }
                }
            }
            groupCommits += 1
            published()
        } catch {
            for queued in batch { queued.reply.resume(throwing: error) }
            return
        }
        for (queued, outcome) in zip(batch, outcomes) { queued.reply.resume(with: outcome) }
    }

    /// About 50–100 ms of work: enough to share an fsync widely, little enough that pushes
    /// queued behind a commit are answered in turn rather than all at the end.
    static let mutationsPerCommit = 1_000

    public nonisolated func pull(space: SpaceID, after: Version, limit: Int, omitting device: DeviceID?) async throws -> EncodedPage {
        guard let device else {
            return try await page(space, after: after, limit: limit,
                            "SELECT version, data FROM changes WHERE space = ? AND version > ? ORDER BY version LIMIT ?") { $0.blob(at: 1) }
        }
        // Rows left out still move the cursor past them: the page reader ends at the head.
        return try await page(space, after: after, limit: limit,
                        "SELECT version, data FROM changes WHERE space = ?1 AND version > ?2 AND own_device IS NOT ?4 ORDER BY version LIMIT ?3",
                        extra: device.rawValue) { $0.blob(at: 1) }
    }

    /// Up to `limit` rows after `after` (their version in column 0), encoded by `encode`, with
    /// the head, read in one snapshot. A page with nothing after it ends at the head: no row of
    /// the space lies between its last one and the head.
    /// `sql` takes the space, `after` and the row limit as parameters 1–3, and `extra` as 4.
    nonisolated func page(
        _ space: SpaceID, after: Version, limit: Int, _ sql: String, extra: String? = nil, encode: @escaping @Sendable (Row) throws -> [UInt8]
    ) async throws -> EncodedPage {
        try await read { db in
            try db.transaction(.deferred) {
                let arguments: [(any DatabaseValueConvertible)?] = [space.rawValue, after, limit + 1] + (extra.map { [$0] } ?? [])
                // Cut by bytes too (always at least one change), so a page of large notes stays
                // far inside `maxPayloadBytes` and in bounded memory.
                var rows: [(Version, [UInt8])] = [], bytes = 0, hasMore = false
                try db.scan(sql, arguments: arguments) { row in
                    let encoded = try encode(row)
                    if rows.count == limit || (!rows.isEmpty && bytes + encoded.count > StoreDefaults.pageBytes) {
                        hasMore = true
                        return false
                    }
                    rows.append((row.int64(at: 0), encoded))
                    bytes += encoded.count
                    return true
                }
                let head = try Self.headVersion(space, db)
                // A last page ends at the log's head (versions are shared by all spaces, and none
                // of this space lies beyond its own head): so even a device that pulled an empty
                // space has a cursor above 0, the mark of a completed first pull.
                let end = max(try SQLiteChangeLog.globalHead(db), after)
                return EncodedPage(encodedChanges: rows.map(\.1), cursor: hasMore ? rows.last!.0 : end, hasMore: hasMore, head: head)
            }
        }
    }

    static func headVersion(_ space: SpaceID, _ db: Database) throws -> Version {
        try db.query(
            "SELECT max((SELECT coalesce(max(version), 0) FROM changes WHERE space = ?1), (SELECT coalesce(max(horizon), 0) FROM spaces WHERE id = ?1))",
            space.rawValue
        ) { $0.int64(at: 0) }.first ?? 0
    }

    public nonisolated func writeState(of device: DeviceID) async throws -> DeviceWriteState? {
        try await read { try SQLiteChangeLog.writeState(of: device, $0) }
    }

    public nonisolated func head(of space: SpaceID) async throws -> (head: Version, horizon: Version) {
        try await read { db in
            try db.transaction(.deferred) {
                let horizon = try db.query("SELECT horizon FROM spaces WHERE id = ?", space.rawValue) { $0.int64(at: 0) }.first ?? 0
                return (try Self.headVersion(space, db), horizon)
            }
        }
    }

    public nonisolated func records(in space: SpaceID, collection: CollectionName) async throws -> [RecordKey: RecordState] {
        let rows = try await read { db in
            try db.query(
                "SELECT record, state FROM records WHERE space = ? AND collection = ?", space.rawValue, collection.rawValue
            ) { (RecordKey(space: space, collection: collection, record: RecordID(unchecked: $0.string(at: 0))), try RecordState(wireBytes: $0.blob(at: 1))) }
        }
        return Dictionary(uniqueKeysWithValues: rows)
    }

    public nonisolated func record(_ key: RecordKey) async throws -> RecordState? {
        let schema = schema
        return try await read { try SQLiteChangeLog(db: $0, schema: schema).record(key) }
    }
}
