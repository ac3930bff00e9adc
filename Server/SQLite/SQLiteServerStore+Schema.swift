public import SatchelServerCore
public import SatchelSQLite

extension SQLiteServerStore {
    /// The server database's schema, one migration per version. Never edit a shipped migration:
    /// add the next one.
    static let migrator = Migrator([
        Migration(version: 1, name: "initial", sql: """
            CREATE TABLE spaces (
                id TEXT PRIMARY KEY,
                created_at INTEGER NOT NULL,
                horizon INTEGER NOT NULL DEFAULT 0
            );
            CREATE TABLE users (
                id TEXT PRIMARY KEY,
                created_at INTEGER NOT NULL,
                disabled_at INTEGER
            );
            CREATE TABLE memberships (
                space TEXT NOT NULL REFERENCES spaces(id),
                user TEXT NOT NULL REFERENCES users(id),
                role TEXT NOT NULL CHECK (role IN ('reader', 'writer', 'owner')),
                PRIMARY KEY (space, user)
            ) WITHOUT ROWID;
            CREATE INDEX memberships_user ON memberships(user);
            CREATE TABLE devices (
                id TEXT PRIMARY KEY,
                user TEXT NOT NULL REFERENCES users(id),
                label TEXT NOT NULL,
                token_hash BLOB NOT NULL UNIQUE,
                client TEXT,
                created_at INTEGER NOT NULL,
                last_seen_at INTEGER,
                revoked_at INTEGER
            );
            CREATE TABLE enrollments (
                code_hash BLOB PRIMARY KEY,
                user TEXT NOT NULL REFERENCES users(id),
                label TEXT,
                created_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                used_at INTEGER,
                device TEXT
            ) WITHOUT ROWID;
            -- The change log: one row per change, its wire encoding as sent to devices.
            CREATE TABLE changes (
                version INTEGER PRIMARY KEY,
                space TEXT NOT NULL,
                data BLOB NOT NULL
            );
            CREATE INDEX changes_space ON changes(space, version);
            -- Current record states (tombstones included) and earlier states kept as merge bases.
            CREATE TABLE records (
                space TEXT NOT NULL, collection TEXT NOT NULL, record TEXT NOT NULL,
                version INTEGER NOT NULL,
                state BLOB NOT NULL,
                PRIMARY KEY (space, collection, record)
            ) WITHOUT ROWID;
            CREATE TABLE record_history (
                space TEXT NOT NULL, collection TEXT NOT NULL, record TEXT NOT NULL,
                version INTEGER NOT NULL,
                state BLOB NOT NULL,
                PRIMARY KEY (space, collection, record, version)
            ) WITHOUT ROWID;
            -- Every mutation seen, with its result: a repeated push is answered, not reapplied.
            CREATE TABLE mutations (
                id TEXT PRIMARY KEY,
                device TEXT NOT NULL,
                space TEXT NOT NULL,
                result BLOB NOT NULL
            ) WITHOUT ROWID;
            """),
        Migration(version: 2, name: "spaces every user reads", sql: """
            ALTER TABLE spaces ADD COLUMN everyone_reads INTEGER NOT NULL DEFAULT 0;
            """),
        Migration(version: 3, name: "operators and per-device progress", sql: """
            CREATE TABLE operator_tokens (
                token_hash BLOB PRIMARY KEY,
                label TEXT NOT NULL,
                created_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE device_cursors (
                device TEXT NOT NULL, space TEXT NOT NULL,
                cursor INTEGER NOT NULL, pulled_at INTEGER NOT NULL,
                PRIMARY KEY (device, space)
            ) WITHOUT ROWID;
            CREATE TABLE rejections (
                seq INTEGER PRIMARY KEY,
                device TEXT NOT NULL, mutation TEXT NOT NULL,
                code TEXT NOT NULL, message TEXT NOT NULL, at INTEGER NOT NULL
            );
            CREATE INDEX rejections_device ON rejections(device, seq);
            """),
        Migration(version: 4, name: "retention, snapshots and forced re-bootstraps", sql: """
            -- When the server wrote each change (ms); retention compacts by it. NULL before v4.
            ALTER TABLE changes ADD COLUMN at INTEGER;
            -- Snapshot pulls read current states in version order.
            CREATE INDEX records_space_version ON records(space, version);
            CREATE TABLE forced_resets (
                device TEXT NOT NULL, space TEXT NOT NULL, requested_at INTEGER NOT NULL,
                PRIMARY KEY (device, space)
            ) WITHOUT ROWID;
            """),
        Migration(version: 5, name: "records as a rowid table", sql: """
            -- Record states are ~1.5 KB; clustered by their random ids (WITHOUT ROWID) every push
            -- rewrote a random leaf page per note. As a rowid table new states append, and the
            -- small unique index finds them.
            CREATE TABLE records_v5 (
                id INTEGER PRIMARY KEY,
                space TEXT NOT NULL, collection TEXT NOT NULL, record TEXT NOT NULL,
                version INTEGER NOT NULL,
                state BLOB NOT NULL,
                UNIQUE (space, collection, record)
            );
            INSERT INTO records_v5 (space, collection, record, version, state)
                SELECT space, collection, record, version, state FROM records ORDER BY version;
            DROP TABLE records;
            ALTER TABLE records_v5 RENAME TO records;
            CREATE INDEX records_space_version ON records(space, version);
            """),
        Migration(version: 6, name: "writes as written", sql: """
            -- The device whose write a change reproduces exactly (MutationResult.asWritten):
            -- that device confirmed it when acknowledged, and its pulls may leave it out.
            ALTER TABLE changes ADD COLUMN own_device TEXT;
            ALTER TABLE mutations ADD COLUMN as_written INTEGER NOT NULL DEFAULT 0;
            """),
        Migration(version: 7, name: "device writes by counter", sql: """
            -- A device uses each counter once: a second id under one counter is a copied device
            -- (ChangeLogStorage.mutation(counter:of:)), and the highest counter with its clock is
            -- what hello tells a device that went back in time. NULL for operator writes and for
            -- writes stored before this version.
            ALTER TABLE mutations ADD COLUMN counter INTEGER;
            ALTER TABLE mutations ADD COLUMN clock INTEGER;
            CREATE UNIQUE INDEX mutations_device_counter ON mutations(device, counter) WHERE counter IS NOT NULL;
            """),
        Migration(version: 8, name: "the change feed's operator events", sql: """
            -- Revocations, disables, re-bootstrap requests and compactions, written in the
            -- transaction that makes them, so every server of the database (and one started by
            -- nobody: the operator commands on a data directory) reaches its live devices.
            -- Changes themselves are read from `changes`. Rows older than an hour are dropped.
            CREATE TABLE feed_events (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                at INTEGER NOT NULL,
                kind TEXT NOT NULL,
                space TEXT, device TEXT, user TEXT, version INTEGER
            );
            """),
    ])
}
