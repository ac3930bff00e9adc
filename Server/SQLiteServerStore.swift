import Foundation
public import SatchelProtocol
import SatchelSQLite

/// The embedded default store: one SQLite file in WAL mode with full fsync, so everything a push
/// acknowledges survives a kill -9 or power loss. One connection, owned by this actor: writes are
/// serialised, which SQLite requires anyway.
public actor SQLiteServerStore: ServerStore {
    private var db: Database?
    let schema: Schema
    /// The database file, for operations that use their own connection (backup).
    public nonisolated let path: String
    /// Wall-clock milliseconds, stamped on changes for retention; injected so tests control it.
    let clock: @Sendable () -> Timestamp

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    public init(path: String, schema: Schema = .standard, clock: @escaping @Sendable () -> Timestamp = SQLiteServerStore.wallClock) throws {
        let db = try Database(configuration: DatabaseConfiguration(path: path, synchronous: .full))
        _ = try Self.migrator.migrate(db)
        // 8 MiB of page cache instead of SQLite's 2 MB: pushes look up `mutations` and
        // `records` pages that would otherwise be read back from the file each time.
        _ = try db.query("PRAGMA cache_size = -8192") { _ in () }
        self.db = db
        self.schema = schema
        self.path = path
        self.clock = clock
    }

    @Sendable public static func wallClock() -> Timestamp { Timestamp(Date().timeIntervalSince1970 * 1000) }

    func database() throws -> Database {
        guard let db else { throw StoreError(.closed, "the store is closed") }
        return db
    }

    public func close() {
        db?.close()
        db = nil
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

    public func spaces(of user: UserID) throws -> [SpaceAccess] {
        let db = try database()
        return try db.query(
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

    public func allSpaces() throws -> [SpaceID] {
        try database().query("SELECT id FROM spaces ORDER BY id") { SpaceID(unchecked: $0.string(at: 0)) }
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

    public func device(tokenHash: [UInt8]) throws -> DeviceInfo? {
        try database().query("SELECT \(Self.deviceColumns) FROM devices WHERE token_hash = ?", tokenHash, map: Self.deviceInfo).first
    }

    public func device(_ id: DeviceID) throws -> DeviceInfo? {
        try database().query("SELECT \(Self.deviceColumns) FROM devices WHERE id = ?", id.rawValue, map: Self.deviceInfo).first
    }

    public func touch(_ device: DeviceID, client: String?, now: Timestamp) throws {
        try database().run(
            "UPDATE devices SET last_seen_at = ?, client = coalesce(?, client) WHERE id = ?", now, client, device.rawValue)
    }

    public func revoke(_ device: DeviceID, now: Timestamp) throws {
        let db = try database()
        guard try db.run("UPDATE devices SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", now, device.rawValue) == 1 else {
            throw StoreError(.unknownDevice, "device '\(device)' does not exist; `satchel-server device list` shows the devices")
        }
    }

    // MARK: operators and the per-device view

    public func createOperatorToken(hash: [UInt8], label: String, now: Timestamp) throws {
        try database().run("INSERT INTO operator_tokens (token_hash, label, created_at) VALUES (?, ?, ?)", hash, label, now)
    }

    public func operatorToken(hash: [UInt8]) throws -> String? {
        try database().query("SELECT label FROM operator_tokens WHERE token_hash = ?", hash) { $0.string(at: 0) }.first
    }

    public func devices(of user: UserID?) throws -> [DeviceInfo] {
        try database().query(
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
        try requireUser(user, db)
        try db.run("UPDATE users SET disabled_at = coalesce(disabled_at, ?) WHERE id = ?", now, user.rawValue)
    }

    public func recordPull(device: DeviceID, space: SpaceID, cursor: Version, now: Timestamp) throws {
        try database().run(
            "INSERT OR REPLACE INTO device_cursors (device, space, cursor, pulled_at) VALUES (?, ?, ?, ?)",
            device.rawValue, space.rawValue, cursor, now)
    }

    public func recordRejections(_ results: [MutationResult], device: DeviceID, now: Timestamp) throws {
        let db = try database()
        try db.transaction {
            for r in results {
                guard let reason = r.rejection else { continue }
                try db.run("INSERT INTO rejections (device, mutation, code, message, at) VALUES (?, ?, ?, ?, ?)",
                           device.rawValue, r.mutation.rawValue, reason.code.rawValue, reason.message, now)
            }
        }
    }

    public func activity(of device: DeviceID) throws -> DeviceActivity {
        let db = try database()
        guard let info = try self.device(device) else {
            throw StoreError(.unknownDevice, "device '\(device)' does not exist; `satchel-server device list` shows the devices")
        }
        var progress: [DeviceActivity.SpaceProgress] = []
        for access in try spaces(of: info.user) {
            let row = try db.query("SELECT cursor, pulled_at FROM device_cursors WHERE device = ? AND space = ?", device.rawValue, access.space.rawValue) {
                ($0.int64(at: 0), $0.int64(at: 1))
            }.first
            let cursor = row?.0 ?? 0
            let behind = try db.query("SELECT count(*) FROM changes WHERE space = ? AND version > ?", access.space.rawValue, cursor) { $0.int(at: 0) }[0]
            progress.append(.init(space: access.space, cursor: cursor, pulledAt: row?.1, behind: behind))
        }
        let rejected = try db.query("SELECT mutation, code, message FROM rejections WHERE device = ? ORDER BY seq DESC LIMIT 20", device.rawValue) {
            MutationResult(mutation: MutationID(unchecked: $0.string(at: 0)), status: .rejected, version: 0,
                           rejection: ValidationError(RejectionCode(rawValue: $0.string(at: 1)), $0.string(at: 2)))
        }
        let conflicts = try db.query("SELECT space, record, state FROM records WHERE collection = 'conflicts'") { row in
            (RecordKey(space: SpaceID(unchecked: row.string(at: 0)), collection: .conflicts, record: RecordID(unchecked: row.string(at: 1))), try RecordState(wireBytes: row.blob(at: 2)))
        }.filter { !$0.1.deleted && $0.1.values["keptDevice"] == .string(device.rawValue) }.map(\.0)
        return DeviceActivity(spaces: progress, rejected: rejected, openConflicts: conflicts.sorted())
    }

    // MARK: sync

    public func push(_ mutations: [Mutation]) throws -> [MutationResult] {
        try apply(mutations, asOperator: false)
    }

    public func operatorWrite(_ mutations: [Mutation]) throws -> [MutationResult] {
        try apply(mutations, asOperator: true)
    }

    private func apply(_ mutations: [Mutation], asOperator: Bool) throws -> [MutationResult] {
        let db = try database()
        return try db.transaction(.immediate) {
            var log = try SQLiteChangeLog(db: db, schema: schema, now: clock())
            return try mutations.map { asOperator ? try log.applyOperatorWrite($0) : try log.applyMutation($0) }
        }
    }

    public func pull(space: SpaceID, after: Version, limit: Int) throws -> EncodedPage {
        try page(space, after: after, limit: limit,
                 "SELECT version, data FROM changes WHERE space = ? AND version > ? ORDER BY version LIMIT ?") { $0.blob(at: 1) }
    }

    /// Up to `limit` rows after `after` (their version in column 0), encoded by `encode`, with
    /// the head, read in one snapshot. A page with nothing after it ends at the head: no row of
    /// the space lies between its last one and the head.
    func page(_ space: SpaceID, after: Version, limit: Int, _ sql: String, encode: (Row) throws -> [UInt8]) throws -> EncodedPage {
        let db = try database()
        return try db.transaction(.deferred) {
            var rows = try db.query(sql, space.rawValue, after, limit + 1) { ($0.int64(at: 0), try encode($0)) }
            let hasMore = rows.count > limit
            if hasMore { rows.removeLast() }
            let head = try headVersion(space, db)
            return EncodedPage(encodedChanges: rows.map(\.1), cursor: hasMore ? rows.last!.0 : max(head, after), hasMore: hasMore, head: head)
        }
    }

    func headVersion(_ space: SpaceID, _ db: Database) throws -> Version {
        try db.query(
            "SELECT max((SELECT coalesce(max(version), 0) FROM changes WHERE space = ?1), (SELECT coalesce(max(horizon), 0) FROM spaces WHERE id = ?1))",
            space.rawValue
        ) { $0.int64(at: 0) }.first ?? 0
    }

    public func head(of space: SpaceID) throws -> (head: Version, horizon: Version) {
        let db = try database()
        let horizon = try db.query("SELECT horizon FROM spaces WHERE id = ?", space.rawValue) { $0.int64(at: 0) }.first ?? 0
        return (try headVersion(space, db), horizon)
    }

    public func records(in space: SpaceID, collection: CollectionName) throws -> [RecordKey: RecordState] {
        let rows = try database().query(
            "SELECT record, state FROM records WHERE space = ? AND collection = ?", space.rawValue, collection.rawValue
        ) { (RecordKey(space: space, collection: collection, record: RecordID(unchecked: $0.string(at: 0))), try RecordState(wireBytes: $0.blob(at: 1))) }
        return Dictionary(uniqueKeysWithValues: rows)
    }

    public func record(_ key: RecordKey) throws -> RecordState? {
        try SQLiteChangeLog(db: try database(), schema: schema).record(key)
    }
}
