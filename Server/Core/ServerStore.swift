import Foundation
public import SatchelProtocol
public import ServiceLifecycle

/// A device as the server knows it. Never holds the token, only its hash.
public struct DeviceInfo: Hashable, Sendable {
    public var id: DeviceID
    public var user: UserID
    public var label: String
    public var client: String?
    public var createdAt: Timestamp
    public var lastSeenAt: Timestamp?
    public var revokedAt: Timestamp?
    /// Whether the device's user is disabled (read with the device, so authentication is one query).
    public var userDisabled: Bool

    public init(id: DeviceID, user: UserID, label: String, client: String? = nil, createdAt: Timestamp, lastSeenAt: Timestamp? = nil, revokedAt: Timestamp? = nil, userDisabled: Bool = false) {
        self.id = id
        self.user = user
        self.label = label
        self.client = client
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.revokedAt = revokedAt
        self.userDisabled = userDisabled
    }
}

/// A user as operators see it.
public struct UserInfo: Hashable, Sendable {
    public var id: UserID
    public var createdAt: Timestamp
    public var disabledAt: Timestamp?
    public init(id: UserID, createdAt: Timestamp, disabledAt: Timestamp?) {
        self.id = id
        self.createdAt = createdAt
        self.disabledAt = disabledAt
    }
}

/// One device's sync state, for "why has Ana's phone not synced since Tuesday?".
public struct DeviceActivity: Hashable, Sendable {
    public struct SpaceProgress: Hashable, Sendable {
        public var space: SpaceID
        /// The last version the device pulled, and when.
        public var cursor: Version
        public var pulledAt: Timestamp?
        /// Changes in the space it has not pulled yet.
        public var behind: Int

        /// Public so that backends outside this module (`MemoryServerStore`) can report it.
        public init(space: SpaceID, cursor: Version, pulledAt: Timestamp?, behind: Int) {
            self.space = space
            self.cursor = cursor
            self.pulledAt = pulledAt
            self.behind = behind
        }
    }
    public var spaces: [SpaceProgress]
    /// Its mutations the server refused, newest first (at most 20).
    public var rejected: [MutationResult]
    /// Conflict records holding a value this device wrote, still open.
    public var openConflicts: [RecordKey]

    /// Public so that backends outside this module (`MemoryServerStore`) can report it.
    public init(spaces: [SpaceProgress], rejected: [MutationResult], openConflicts: [RecordKey]) {
        self.spaces = spaces
        self.rejected = rejected
        self.openConflicts = openConflicts
    }
}

/// A page of changes read from a store, still in their wire encoding so the server can send
/// them without decoding and re-encoding each one.
public struct EncodedPage: Sendable {
    public var encodedChanges: [[UInt8]]
    public var cursor: Version
    public var hasMore: Bool
    public var head: Version

    public init(encodedChanges: [[UInt8]], cursor: Version, hasMore: Bool, head: Version) {
        self.encodedChanges = encodedChanges
        self.cursor = cursor
        self.hasMore = hasMore
        self.head = head
    }
}

/// Everything the sync server keeps, split by concern so a backend states what it offers and a
/// caller what it needs. SQLite (`SatchelServerSQLite`), PostgreSQL (`SatchelServerPostgres`)
/// and memory (`MemoryServerStore` in `SatchelTesting`) implement all three; each must pass the conformance suite in
/// `StoreConformance` (SatchelTesting, `Testing/Conformance`) unchanged. Times are passed in (milliseconds since 1970),
/// so tests control them.
///
/// Implementation requirements, for every requirement of every store protocol (as swift-log's
/// `LogHandler` states its own):
/// - **Durable before it returns.** A write that returns has committed: it survives the process
///   being killed (kill -9) and, for backends on disk, power loss. A write that throws changed
///   nothing.
/// - **Several store objects, one database.** Any number of store objects (in one process or in
///   several) may serve one database at once; every rule below holds across them, not only
///   within one.
/// - **Errors a person can act on.** Refusals throw `StoreError` with a stable code; a full disk
///   throws an error conforming to `BackendFailure` with `isDiskFull` true.
public protocol ServerStore: IdentityStore, ChangeLogStore, DeviceActivityStore {
    /// What was committed, by this store object and (once its `backgroundServices` run) by
    /// every other writer of the database: published after the commit, never before the change
    /// is visible to reads.
    var feed: ChangeFeed { get }
    /// Work the backend needs running while it serves, in the application's service group
    /// (the SQLite store tails its database for other writers' commits).
    var backgroundServices: [any Service] { get }
    /// Closes the store; later calls fail with `StoreError.Code.closed`.
    func close() async
}

extension ServerStore {
    public var backgroundServices: [any Service] { [] }
}

/// Spaces, users, memberships, enrollment, devices and operator tokens: who may do what.
///
/// Implementation requirements:
/// - A revocation or a disable takes effect for the next `device(tokenHash:)` call on every
///   store object of the database.
/// - An enrollment code is redeemed at most once, even when two store objects redeem it at once.
public protocol IdentityStore: Sendable {
    func createSpace(_ space: SpaceID, now: Timestamp) async throws
    func createUser(_ user: UserID, now: Timestamp) async throws
    /// Gives `user` `role` in `space`, or removes the membership when `role` is nil.
    func setRole(_ role: Role?, user: UserID, space: SpaceID) async throws
    /// The spaces `user` may use, with role, head and horizon, sorted by space id.
    func spaces(of user: UserID) async throws -> [SpaceAccess]
    /// Every space's id, sorted.
    func allSpaces() async throws -> [SpaceID]
    /// Makes every user a reader of `space` (the shared briefing), or stops doing so.
    func setEveryoneReads(_ space: SpaceID, _ everyoneReads: Bool) async throws

    /// Stores a one-time enrollment code (only its hash) for `user`, valid until `expiresAt`.
    func createEnrollment(codeHash: [UInt8], user: UserID, label: String?, expiresAt: Timestamp, now: Timestamp) async throws
    /// Exchanges an unused, unexpired code for a new device with the given token hash, in one
    /// transaction: a code works once.
    func redeemEnrollment(codeHash: [UInt8], device: DeviceID, label: String?, tokenHash: [UInt8], client: String?, now: Timestamp) async throws -> DeviceInfo
    /// The device holding the token with this hash (revoked devices included), or nil.
    func device(tokenHash: [UInt8]) async throws -> DeviceInfo?
    func device(_ id: DeviceID) async throws -> DeviceInfo?
    /// Revokes the device: its token stops working at once.
    func revoke(_ device: DeviceID, now: Timestamp) async throws
    /// Every device, or one user's, sorted by user then label.
    func devices(of user: UserID?) async throws -> [DeviceInfo]
    /// Every user with when they were added and disabled.
    func users() async throws -> [UserInfo]
    /// Disables a user: all their devices are refused from now on.
    func disableUser(_ user: UserID, now: Timestamp) async throws

    /// Stores an operator token's hash (operator tokens reach the admin API, not sync).
    func createOperatorToken(hash: [UInt8], label: String, now: Timestamp) async throws
    /// The label of the operator token with this hash, or nil.
    func operatorToken(hash: [UInt8]) async throws -> String?
}

/// The change log: pushed mutations in, pages of changes out (PROTOCOL.md §5–§7).
///
/// Implementation requirements:
/// - **Idempotent by mutation id.** A mutation id seen before from the same device returns its
///   first result and has no second effect, also when both pushes run at once on two store
///   objects; from another device it is refused (`mutation_id_taken`). The algorithm is
///   `ChangeLogStorage.applyMutation` in SatchelProtocol, run through `ChangeLogPlan` (see
///   `ChangeLogBackend`): backends store, they do not decide.
/// - **Nothing lost in a merge.** Concurrent pushes to one record are applied one after the
///   other, each merged against the state the previous one left.
/// - **Versions visible in version order.** Versions are shared by all spaces and handed out in
///   increasing order. Once any reader can see version v, every version below v that will ever
///   exist is visible too: a backend holds whatever lock hands out versions until the commit
///   that makes them visible (PROTOCOL.md §5, "Versions become visible in order"). So a device's cursor never passes a version
///   that can still appear.
/// - **Read your writes.** A pull, head or record read that starts after a push returned sees it.
/// - **Pages end where they say.** A page with `hasMore` false ends at the log's head: no change
///   of the space lies between its last change and `cursor`.
public protocol ChangeLogStore: Sendable {
    /// Applies mutations in order, in one transaction (all results become durable together,
    /// before this returns). Access checks are the caller's.
    func push(_ mutations: [Mutation]) async throws -> [MutationResult]
    /// Applies operator writes (reference data) in one transaction.
    func operatorWrite(_ mutations: [Mutation]) async throws -> [MutationResult]
    /// Up to `limit` changes of `space` after `after`; without the changes that reproduce
    /// `omitting`'s own writes exactly (`MutationResult.asWritten`), when given.
    func pull(space: SpaceID, after: Version, limit: Int, omitting device: DeviceID?) async throws -> EncodedPage
    /// What the store holds of a device's own writes: the highest counter among its stored
    /// mutations and that mutation's clock (nil when none is stored).
    func writeState(of device: DeviceID) async throws -> DeviceWriteState?
    /// The latest version in `space` (0 when empty) and the oldest cursor still served.
    func head(of space: SpaceID) async throws -> (head: Version, horizon: Version)
    /// The current state of a record (tombstones included).
    func record(_ key: RecordKey) async throws -> RecordState?
    /// Every record of a collection in a space (tombstones included).
    func records(in space: SpaceID, collection: CollectionName) async throws -> [RecordKey: RecordState]
    /// Current record states of `space` (tombstones included) with versions after `after`,
    /// oldest first, encoded as snapshot changes: what a bootstrap pulls. Read in one snapshot
    /// of the database, so a page read under writes is still a consistent cut.
    func snapshot(space: SpaceID, after: Version, limit: Int) async throws -> EncodedPage
    /// The newest version of `space` written before `cutoff` (0 if none): how far retention
    /// lets `compact` go.
    func version(of space: SpaceID, writtenBefore cutoff: Timestamp) async throws -> Version
    /// Drops the changes of `space` at or below `version`, tombstones at or below it, and merge
    /// bases no later mutation can need, then raises the space's horizon to `version`. With
    /// `dryRun` it reports the same counts and changes nothing.
    func compact(_ space: SpaceID, through version: Version, dryRun: Bool) async throws -> CompactionReport
}

/// What devices did and what they are asked to do next: last seen, pull progress, refusals, and
/// operators' re-bootstrap requests.
///
/// Implementation requirements:
/// - `touch`, `recordPull` and `recordRejections` are bookkeeping for the operator's view: a
///   backend may hold them briefly and write them in batches (within a few seconds, and before
///   `close` returns), and their failure must not fail a sync.
/// - `activity(of:)` and `devices(of:)` show what every store object of the database has
///   noted, once it has been written.
/// - `requestReset` is durable like any write; `resetRequested` sees it on every store object.
public protocol DeviceActivityStore: Sendable {
    /// Records that the device was seen (and with which client software).
    func touch(_ device: DeviceID, client: String?, now: Timestamp) async throws
    /// Records how far a device has pulled a space (for the operator's per-device view).
    func recordPull(device: DeviceID, space: SpaceID, cursor: Version, now: Timestamp) async throws
    /// Keeps the reasons a device's mutations were refused, for the operator's view.
    func recordRejections(_ results: [MutationResult], device: DeviceID, now: Timestamp) async throws
    /// What an operator needs to see about one device.
    func activity(of device: DeviceID) async throws -> DeviceActivity
    /// Writes what was noted and not yet written (a backend that buffers bookkeeping).
    func flushActivity() async throws
    /// Makes the device pull `space` again from the start on its next sync (keeping unsent work).
    func requestReset(device: DeviceID, space: SpaceID, now: Timestamp) async throws
    /// Whether an operator asked the device to pull `space` again; `clear` withdraws the request
    /// (the device has started over).
    func resetRequested(device: DeviceID, space: SpaceID, clear: Bool) async throws -> Bool
}

/// A store that can say how much room it takes (the `satchel_store_bytes` metric).
public protocol SizedStore: Sendable {
    /// The store's size on disk, in bytes (PostgreSQL: the database's).
    func sizeOnDisk() async throws -> Int64
}

/// Operations only a store kept in files offers (the embedded SQLite one): a consistent copy
/// while serving. A database server has its own tools for it (`pg_dump`).
public protocol FileBackedStore: SizedStore {
    /// The folder holding the store's files (named in the log line about a full disk).
    var directory: String { get }
    /// Writes a consistent copy of the whole store to `path` (which must not exist) while the
    /// store keeps serving.
    func backup(to path: String) async throws
}

/// A backend's own error, as the server needs to read it: whether the disk is full (answered
/// 507, logged for the operator) and a description safe to log (never a bound value).
public protocol BackendFailure: Error {
    var isDiskFull: Bool { get }
    var logDescription: String { get }
}

/// Limits and clocks every backend shares.
public enum StoreDefaults {
    /// The most bytes of changes in one pull page (PROTOCOL.md §5): a quarter of the default
    /// `maxPayloadBytes`. Every backend cuts its pages at this size.
    public static let pageBytes = 4 << 20

    /// Wall-clock milliseconds since 1970.
    @Sendable public static func wallClock() -> Timestamp { Timestamp(Date().timeIntervalSince1970 * 1000) }
}

/// What `compact` dropped (or would drop, in a dry run).
public struct CompactionReport: Codable, Hashable, Sendable {
    public var space: String
    /// The horizon before and after: cursors below `horizon` must bootstrap again.
    public var previousHorizon: Int64
    public var horizon: Int64
    public var changes: Int
    public var tombstones: Int
    public var history: Int
    public var dryRun: Bool

    public init(space: String, previousHorizon: Int64, horizon: Int64, changes: Int, tombstones: Int, history: Int, dryRun: Bool) {
        self.space = space
        self.previousHorizon = previousHorizon
        self.horizon = horizon
        self.changes = changes
        self.tombstones = tombstones
        self.history = history
        self.dryRun = dryRun
    }
}

/// A store failure a person can act on; `code` is stable and mapped to HTTP at the server edge.
public struct StoreError: CodedError, Hashable {
    public struct Code: RawRepresentable, Hashable, Sendable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public static let spaceExists = Code(rawValue: "space_exists")
        public static let userExists = Code(rawValue: "user_exists")
        public static let unknownSpace = Code(rawValue: "unknown_space")
        public static let unknownUser = Code(rawValue: "unknown_user")
        public static let unknownDevice = Code(rawValue: "unknown_device")
        public static let enrollmentInvalid = Code(rawValue: "enrollment_invalid")
        public static let enrollmentExpired = Code(rawValue: "enrollment_expired")
        public static let enrollmentUsed = Code(rawValue: "enrollment_used")
        public static let closed = Code(rawValue: "store_closed")
        public static let backupFailed = Code(rawValue: "backup_failed")
        public static let beyondHead = Code(rawValue: "beyond_head")
        public static let dataDirectoryBusy = Code(rawValue: "data_directory_busy")
        public static let restoreRefused = Code(rawValue: "restore_refused")
        public static let schemaTooNew = Code(rawValue: "schema_too_new")
        public static let invalidDatabaseURL = Code(rawValue: "invalid_database_url")
        public static let databaseUnavailable = Code(rawValue: "database_unavailable")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) { (self.code, self.message) = (code, message) }
}

extension ServerStore {
    /// Up to `limit` changes of `space` after `after`, all of them.
    public func pull(space: SpaceID, after: Version, limit: Int) async throws -> EncodedPage {
        try await pull(space: space, after: after, limit: limit, omitting: nil)
    }
}
