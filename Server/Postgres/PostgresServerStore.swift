import Foundation
public import Logging
import PostgresNIO
public import SatchelProtocol
public import SatchelServerCore
public import ServiceLifecycle
import Synchronization

/// The store for a cluster: PostgreSQL, shared by any number of `satchel-server` instances.
///
/// Every rule of the store protocols holds across instances because the database enforces it:
/// pushes take `log_head`'s row lock from their first read to their commit (versions become
/// visible in order, and a retried push on another instance waits for the first and gets its
/// result); enrollment codes are redeemed under a row lock; each instance's change feed reads
/// what every instance committed, woken by `NOTIFY` sent in the committing transaction
/// (`PostgresFeedTail`). Pushes are group-committed as on SQLite: one transaction, one commit,
/// for the pushes queued while the last one ran (`PostgresWriter`).
///
/// ```swift
/// let store = try await PostgresServerStore.open(PostgresLocation(url: "postgres://satchel@db:5432/satchel"))
/// ```
public final class PostgresServerStore: ServerStore {
    let client: PostgresClient
    private let running: Task<Void, Never>
    /// Ends when the task running the pool has started.
    private let runStarted: AsyncStream<Void>
    let logger: Logger
    let schema: Schema
    /// Wall-clock milliseconds, stamped on changes for retention; injected so tests control it.
    let clock: @Sendable () -> Timestamp
    public let feed = ChangeFeed()
    public let location: PostgresLocation
    let tail: PostgresFeedTail
    let writer: PostgresWriter
    /// Last-seen times and pull progress not yet written (`DeviceActivityStore`): written every
    /// few seconds by the application's activity flush, not with an fsync on every sync.
    let bookkeeping = Mutex(Bookkeeping())
    private let closing = Atomic<Bool>(false)
    private let closed = Atomic<Bool>(false)

    /// Connects to the database at `location` with a pool of at most `maxConnections`, and
    /// brings its schema up to date (once, however many servers start together).
    /// `feedPollInterval`: how often the feed reads the database when no notification came
    /// (a lost connection loses notifications; the poll finds what they announced).
    public static func open(
        _ location: PostgresLocation, schema: Schema = .standard, clock: @escaping @Sendable () -> Timestamp = StoreDefaults.wallClock,
        maxConnections: Int = 8, feedPollInterval: Duration = .milliseconds(500), connectWithin: Duration = .seconds(15),
        logger: Logger = Logger(label: "satchel.postgres")
    ) async throws -> PostgresServerStore {
        // One connection of its own first: a refused connection, a wrong password or a missing
        // database is reported at once, in the server's words (the pool would retry for ever);
        // on it the schema is brought up to date and the feed's starting point read, before the
        // pool (whose `run()` starts in a task) is first asked for a connection.
        let position: PostgresFeedTail.Position
        do {
            position = try await within(connectWithin, location) {
                let first = try await location.connect(logger: logger)
                do {
                    try await PostgresSchema.migrate(first, logger: logger, now: clock())
                    let position = try await PostgresFeedTail.position(first, logger: logger)
                    try await first.close()
                    return position
                } catch {
                    try? await first.close()
                    throw error
                }
            }
        } catch {
            throw unavailable(error, at: location)
        }
        let store = PostgresServerStore(
            location, schema: schema, clock: clock, maxConnections: maxConnections, feedPollInterval: feedPollInterval, position: position, logger: logger)
        // The pool serves once its `run()` has begun (a lease before waits, and warns).
        for await _ in store.runStarted {}
        return store
    }

    private init(
        _ location: PostgresLocation, schema: Schema, clock: @escaping @Sendable () -> Timestamp, maxConnections: Int,
        feedPollInterval: Duration, position: PostgresFeedTail.Position, logger: Logger
    ) {
        // The pool's own chatter (a connection attempt cancelled at close) only from warnings up.
        var poolLogger = logger
        poolLogger.logLevel = max(logger.logLevel, .warning)
        let client = PostgresClient(configuration: location.clientConfiguration(maxConnections: maxConnections), backgroundLogger: poolLogger)
        self.client = client
        let (started, didStart) = AsyncStream<Void>.makeStream()
        runStarted = started
        running = Task {
            didStart.finish()
            await client.run()
        }
        self.location = location
        self.schema = schema
        self.clock = clock
        self.logger = logger
        tail = PostgresFeedTail(client: client, feed: feed, from: position, interval: feedPollInterval, logger: logger)
        writer = PostgresWriter(client: client, schema: schema, clock: clock, logger: logger)
    }

    public var backgroundServices: [any Service] { [tail] }

    public func close() async {
        guard !closing.exchange(true, ordering: .sequentiallyConsistent) else { return }
        // Noted bookkeeping is written before the store refuses calls.
        try? await writeBookkeeping()
        closed.store(true, ordering: .sequentiallyConsistent)
        feed.finish()
        running.cancel()
        await running.value
    }

    /// Fails once the store is closed, as every store's calls do.
    func checkOpen() throws {
        if closed.load(ordering: .sequentiallyConsistent) { throw StoreError(.closed, "the store is closed") }
    }

    /// Runs `body` on a pooled connection of the open store.
    func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try checkOpen()
        return try await client.withConnection { try await body($0) }
    }

    /// Runs `body` in a transaction of its own.
    func transaction<T: Sendable>(rollback: Bool = false, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await withConnection { connection in
            try await PostgresTransaction.run(connection, logger: logger, rollback: rollback, body)
        }
    }

    /// Every row of `query`, on any connection.
    @discardableResult
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try checkOpen()
        return try await client.rows(query, logger: logger)
    }

    /// `body`, or a failure once `limit` has passed: a database that does not answer (a
    /// firewall dropping packets) must make `open` say so instead of waiting.
    private static func within<T: Sendable>(_ limit: Duration, _ location: PostgresLocation, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask { try await Task.sleep(for: limit); return nil }
            let first = try await group.next() ?? nil
            group.cancelAll()
            guard let first else {
                throw StoreError(.databaseUnavailable, "no answer from PostgreSQL at \(location) within \(limit); check that it runs, and the host, port, user and database in the URL")
            }
            return first
        }
    }

    /// What `open` reports when it could not use the database: the server's reason (SQLSTATE
    /// and message) or the connection's (refused, unreachable).
    private static func unavailable(_ error: any Error, at location: PostgresLocation) -> any Error {
        if error is StoreError { return error }
        guard let error = error as? PSQLError else { return error }
        let detail = error.sqlState != nil ? error.logDescription : error.underlying.map { "\($0)" } ?? "\(error.code)"
        return StoreError(.databaseUnavailable, "cannot use PostgreSQL at \(location) (\(detail)); check that it runs, and the host, port, user, password (PGPASSWORD) and database in the URL")
    }

    // MARK: spaces, users, memberships

    public func createSpace(_ space: SpaceID, now: Timestamp) async throws {
        do {
            try await rows("INSERT INTO spaces (id, created_at) VALUES (\(space.rawValue), \(now))")
        } catch let error as PSQLError where error.isUniqueViolation {
            throw StoreError(.spaceExists, "space '\(space)' already exists")
        }
    }

    public func createUser(_ user: UserID, now: Timestamp) async throws {
        do {
            try await rows("INSERT INTO users (id, created_at) VALUES (\(user.rawValue), \(now))")
        } catch let error as PSQLError where error.isUniqueViolation {
            throw StoreError(.userExists, "user '\(user)' already exists")
        }
    }

    public func setRole(_ role: Role?, user: UserID, space: SpaceID) async throws {
        try await transaction { tx in
            try await requireSpace(space, tx)
            try await requireUser(user, tx)
            if let role {
                try await tx.rows(
                    """
                    INSERT INTO memberships (space, user_id, role) VALUES (\(space.rawValue), \(user.rawValue), \(role.rawValue))
                    ON CONFLICT (space, user_id) DO UPDATE SET role = EXCLUDED.role
                    """, logger: logger)
            } else {
                try await tx.rows("DELETE FROM memberships WHERE space = \(space.rawValue) AND user_id = \(user.rawValue)", logger: logger)
            }
        }
    }

    func requireSpace(_ space: SpaceID, _ tx: PostgresConnection) async throws {
        guard try await !tx.rows("SELECT 1 FROM spaces WHERE id = \(space.rawValue)", logger: logger).isEmpty else {
            throw StoreError(.unknownSpace, "space '\(space)' does not exist; create it with `satchel-server space create \(space)`")
        }
    }

    private func requireUser(_ user: UserID, _ tx: PostgresConnection) async throws {
        guard try await !tx.rows("SELECT 1 FROM users WHERE id = \(user.rawValue)", logger: logger).isEmpty else {
            throw StoreError(.unknownUser, "user '\(user)' does not exist; add it with `satchel-server user add \(user)`")
        }
    }

    public func spaces(of user: UserID) async throws -> [SpaceAccess] {
        try await withConnection { try await spaces(of: user, $0) }
    }

    func spaces(of user: UserID, _ connection: PostgresConnection) async throws -> [SpaceAccess] {
        try await connection.rows(
            """
            SELECT s.id, coalesce(m.role, 'reader'), s.horizon,
                   greatest(s.horizon, (SELECT coalesce(max(version), 0) FROM changes c WHERE c.space = s.id))
            FROM spaces s LEFT JOIN memberships m ON m.space = s.id AND m.user_id = \(user.rawValue)
            WHERE m.user_id IS NOT NULL OR s.everyone_reads
            ORDER BY s.id COLLATE "C"
            """, logger: logger
        ).map { row in
            let (space, role, horizon, head) = try row.decode((String, String, Int64, Int64).self)
            return SpaceAccess(space: SpaceID(unchecked: space), role: Role(rawValue: role) ?? .reader, head: head, horizon: horizon)
        }
    }

    public func setEveryoneReads(_ space: SpaceID, _ everyoneReads: Bool) async throws {
        try await transaction { tx in
            try await requireSpace(space, tx)
            try await tx.rows("UPDATE spaces SET everyone_reads = \(everyoneReads) WHERE id = \(space.rawValue)", logger: logger)
        }
    }

    public func allSpaces() async throws -> [SpaceID] {
        try await rows(#"SELECT id FROM spaces ORDER BY id COLLATE "C""#).map { SpaceID(unchecked: try $0.decode(String.self)) }
    }

    // MARK: enrollment and devices

    public func createEnrollment(codeHash: [UInt8], user: UserID, label: String?, expiresAt: Timestamp, now: Timestamp) async throws {
        try await transaction { tx in
            try await requireUser(user, tx)
            try await tx.rows(
                """
                INSERT INTO enrollments (code_hash, user_id, label, created_at, expires_at)
                VALUES (\(codeHash.bytea), \(user.rawValue), \(label), \(now), \(expiresAt))
                """, logger: logger)
        }
    }

    public func redeemEnrollment(codeHash: [UInt8], device: DeviceID, label: String?, tokenHash: [UInt8], client: String?, now: Timestamp) async throws -> DeviceInfo {
        try await transaction { tx in
            // The row lock makes a second redemption of the code, on any server, wait for this
            // one and then find it used.
            let found = try await tx.rows(
                "SELECT user_id, label, expires_at, used_at FROM enrollments WHERE code_hash = \(codeHash.bytea) FOR UPDATE", logger: logger
            ).first.map { try $0.decode((String, String?, Int64, Int64?).self) }
            guard let (user, codeLabel, expiresAt, usedAt) = found else {
                throw StoreError(.enrollmentInvalid, "this enrollment code is not valid; check it, or ask your operator for a new one")
            }
            if usedAt != nil {
                throw StoreError(.enrollmentUsed, "this enrollment code was already used; ask your operator for a new one")
            }
            if expiresAt <= now {
                throw StoreError(.enrollmentExpired, "this enrollment code has expired; ask your operator for a new one")
            }
            let info = DeviceInfo(id: device, user: UserID(unchecked: user), label: label ?? codeLabel ?? device.rawValue, client: client, createdAt: now, lastSeenAt: now)
            try await tx.rows(
                """
                INSERT INTO devices (id, user_id, label, token_hash, client, created_at, last_seen_at)
                VALUES (\(device.rawValue), \(user), \(info.label), \(tokenHash.bytea), \(client), \(now), \(now))
                """, logger: logger)
            try await tx.rows("UPDATE enrollments SET used_at = \(now), device = \(device.rawValue) WHERE code_hash = \(codeHash.bytea)", logger: logger)
            return info
        }
    }

    static let deviceColumns = "id, user_id, label, client, created_at, last_seen_at, revoked_at, (SELECT u.disabled_at IS NOT NULL FROM users u WHERE u.id = devices.user_id)"

    static func deviceInfo(_ row: PostgresRow) throws -> DeviceInfo {
        let (id, user, label, client, createdAt, lastSeen, revoked, disabled) = try row.decode((String, String, String, String?, Int64, Int64?, Int64?, Bool).self)
        return DeviceInfo(
            id: DeviceID(unchecked: id), user: UserID(unchecked: user), label: label, client: client, createdAt: createdAt,
            lastSeenAt: lastSeen, revokedAt: revoked, userDisabled: disabled)
    }

    public func device(tokenHash: [UInt8]) async throws -> DeviceInfo? {
        try await rows("SELECT \(unescaped: Self.deviceColumns) FROM devices WHERE token_hash = \(tokenHash.bytea)").first.map(Self.deviceInfo).map(withNoted)
    }

    public func device(_ id: DeviceID) async throws -> DeviceInfo? {
        try await rows("SELECT \(unescaped: Self.deviceColumns) FROM devices WHERE id = \(id.rawValue)").first.map(Self.deviceInfo).map(withNoted)
    }

    /// The device as stored, with a last-seen time noted and not yet written.
    private func withNoted(_ info: DeviceInfo) -> DeviceInfo {
        guard let seen = bookkeeping.withLock({ $0.seen[info.id] }) else { return info }
        var info = info
        info.lastSeenAt = max(info.lastSeenAt ?? 0, seen.at)
        info.client = seen.client ?? info.client
        return info
    }

    public func revoke(_ device: DeviceID, now: Timestamp) async throws {
        try await transaction { tx in
            guard try await !tx.rows(
                "UPDATE devices SET revoked_at = coalesce(revoked_at, \(now)) WHERE id = \(device.rawValue) RETURNING 1", logger: logger
            ).isEmpty else {
                throw StoreError(.unknownDevice, "device '\(device)' does not exist; `satchel-server device list` shows the devices")
            }
            try await PostgresFeedTail.record(.revoked(device: device), at: now, tx, logger: logger)
        }
    }

    public func devices(of user: UserID?) async throws -> [DeviceInfo] {
        try await writeBookkeeping()
        return try await rows(
            #"SELECT \#(unescaped: Self.deviceColumns) FROM devices WHERE \#(user?.rawValue)::text IS NULL OR user_id = \#(user?.rawValue) ORDER BY user_id COLLATE "C", label COLLATE "C", id COLLATE "C""#
        ).map(Self.deviceInfo)
    }

    public func users() async throws -> [UserInfo] {
        try await rows(#"SELECT id, created_at, disabled_at FROM users ORDER BY id COLLATE "C""#).map { row in
            let (id, created, disabled) = try row.decode((String, Int64, Int64?).self)
            return UserInfo(id: UserID(unchecked: id), createdAt: created, disabledAt: disabled)
        }
    }

    public func disableUser(_ user: UserID, now: Timestamp) async throws {
        try await transaction { tx in
            try await requireUser(user, tx)
            try await tx.rows("UPDATE users SET disabled_at = coalesce(disabled_at, \(now)) WHERE id = \(user.rawValue)", logger: logger)
            try await PostgresFeedTail.record(.userDisabled(user: user), at: now, tx, logger: logger)
        }
    }

    // MARK: operators

    public func createOperatorToken(hash: [UInt8], label: String, now: Timestamp) async throws {
        try await rows("INSERT INTO operator_tokens (token_hash, label, created_at) VALUES (\(hash.bytea), \(label), \(now))")
    }

    public func operatorToken(hash: [UInt8]) async throws -> String? {
        try await rows("SELECT label FROM operator_tokens WHERE token_hash = \(hash.bytea)").first.map { try $0.decode(String.self) }
    }
}
