import Logging
import PostgresNIO
import SatchelServerCore

/// The server database's schema on PostgreSQL, one migration per version, recorded in
/// `satchel_migrations`. Never edit a shipped migration: add the next one.
///
/// The tables are SQLite's (`SQLiteServerStore+Schema`) at its version 8, with two additions a
/// database shared by several servers needs: `log_head` and `feed_head`, one row each, whose
/// row locks hand out change versions and feed sequence numbers. A transaction that takes one
/// holds it until it commits, so numbers become visible in the order they were given out (a
/// sequence would let 102 commit before 101, and a reader that saw 102 would never see 101).
enum PostgresSchema {
    struct Migration {
        let version: Int
        let name: String
        let sql: [String]
    }

    static let migrations: [Migration] = [
        Migration(version: 1, name: "initial", sql: [
            """
            CREATE TABLE spaces (
                id text PRIMARY KEY,
                created_at bigint NOT NULL,
                horizon bigint NOT NULL DEFAULT 0,
                everyone_reads boolean NOT NULL DEFAULT false
            )
            """,
            "CREATE TABLE users (id text PRIMARY KEY, created_at bigint NOT NULL, disabled_at bigint)",
            """
            CREATE TABLE memberships (
                space text NOT NULL REFERENCES spaces(id),
                user_id text NOT NULL REFERENCES users(id),
                role text NOT NULL CHECK (role IN ('reader', 'writer', 'owner')),
                PRIMARY KEY (space, user_id)
            )
            """,
            "CREATE INDEX memberships_user ON memberships(user_id)",
            """
            CREATE TABLE devices (
                id text PRIMARY KEY,
                user_id text NOT NULL REFERENCES users(id),
                label text NOT NULL,
                token_hash bytea NOT NULL UNIQUE,
                client text,
                created_at bigint NOT NULL,
                last_seen_at bigint,
                revoked_at bigint
            )
            """,
            """
            CREATE TABLE enrollments (
                code_hash bytea PRIMARY KEY,
                user_id text NOT NULL REFERENCES users(id),
                label text,
                created_at bigint NOT NULL,
                expires_at bigint NOT NULL,
                used_at bigint,
                device text
            )
            """,
            "CREATE TABLE operator_tokens (token_hash bytea PRIMARY KEY, label text NOT NULL, created_at bigint NOT NULL)",
            // The last version handed out in any space; its row lock is the version lock.
            "CREATE TABLE log_head (one boolean PRIMARY KEY DEFAULT true CHECK (one), version bigint NOT NULL)",
            "INSERT INTO log_head (version) VALUES (0)",
            // The change log: one row per change, its wire encoding as sent to devices; `at` is
            // when the server wrote it (retention), `own_device` the device whose write it
            // reproduces exactly (left out of that device's pulls).
            """
            CREATE TABLE changes (
                version bigint PRIMARY KEY,
                space text NOT NULL,
                data bytea NOT NULL,
                at bigint NOT NULL,
                own_device text
            )
            """,
            "CREATE INDEX changes_space ON changes(space, version)",
            """
            CREATE TABLE records (
                space text NOT NULL, collection text NOT NULL, record text NOT NULL,
                version bigint NOT NULL,
                state bytea NOT NULL,
                PRIMARY KEY (space, collection, record)
            )
            """,
            "CREATE INDEX records_space_version ON records(space, version)",
            """
            CREATE TABLE record_history (
                space text NOT NULL, collection text NOT NULL, record text NOT NULL,
                version bigint NOT NULL,
                state bytea NOT NULL,
                PRIMARY KEY (space, collection, record, version)
            )
            """,
            // Every mutation seen, with its result: a repeated push is answered, not reapplied.
            """
            CREATE TABLE mutations (
                id text PRIMARY KEY,
                device text NOT NULL,
                space text NOT NULL,
                result bytea NOT NULL,
                as_written boolean NOT NULL,
                counter bigint,
                clock bigint
            )
            """,
            "CREATE UNIQUE INDEX mutations_device_counter ON mutations(device, counter) WHERE counter IS NOT NULL",
            """
            CREATE TABLE device_cursors (
                device text NOT NULL, space text NOT NULL,
                cursor bigint NOT NULL, pulled_at bigint NOT NULL,
                PRIMARY KEY (device, space)
            )
            """,
            """
            CREATE TABLE rejections (
                seq bigserial PRIMARY KEY,
                device text NOT NULL, mutation text NOT NULL,
                code text NOT NULL, message text NOT NULL, at bigint NOT NULL
            )
            """,
            "CREATE INDEX rejections_device ON rejections(device, seq)",
            """
            CREATE TABLE forced_resets (
                device text NOT NULL, space text NOT NULL, requested_at bigint NOT NULL,
                PRIMARY KEY (device, space)
            )
            """,
            // Revocations, disables, re-bootstrap requests and compactions for every server's
            // change feed, numbered under `feed_head`'s row lock; dropped after an hour.
            "CREATE TABLE feed_head (one boolean PRIMARY KEY DEFAULT true CHECK (one), seq bigint NOT NULL)",
            "INSERT INTO feed_head (seq) VALUES (0)",
            """
            CREATE TABLE feed_events (
                seq bigint PRIMARY KEY,
                at bigint NOT NULL,
                kind text NOT NULL,
                space text, device text, user_id text, version bigint
            )
            """,
        ]),
    ]

    /// The newest schema version this server knows.
    static var latest: Int { migrations.last?.version ?? 0 }

    /// Brings the database up to `latest`, once however many servers start together: under a
    /// session advisory lock, each pending migration in a transaction of its own with its
    /// recorded version. A database newer than this server is refused.
    static func migrate(_ connection: PostgresConnection, logger: Logger, now: Int64) async throws {
        try await connection.query("SELECT pg_advisory_lock(\(lockKey))", logger: logger)
        do {
            try await migrateLocked(connection, logger: logger, now: now)
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
            throw error
        }
        try await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
    }

    /// The advisory lock's key: any fixed number, the same for every Satchel server.
    static let lockKey: Int64 = 0x5341_5443_4845_4c01  // "SATCHEL" 1

    private static func migrateLocked(_ connection: PostgresConnection, logger: Logger, now: Int64) async throws {
        try await connection.query(
            "CREATE TABLE IF NOT EXISTS satchel_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)",
            logger: logger)
        var current = 0
        for try await version in try await connection.query("SELECT coalesce(max(version), 0) FROM satchel_migrations", logger: logger).decode(Int.self) {
            current = version
        }
        guard current <= latest else {
            throw StoreError(.schemaTooNew, "the database is at schema version \(current), newer than this satchel-server knows (\(latest)); run the newer satchel-server")
        }
        for migration in migrations where migration.version > current {
            try await PostgresTransaction.run(connection, logger: logger) { tx in
                for statement in migration.sql { try await tx.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                try await tx.query(
                    "INSERT INTO satchel_migrations (version, name, applied_at) VALUES (\(migration.version), \(migration.name), \(now))",
                    logger: logger)
            }
            logger.info("database migrated", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
        }
    }
}
