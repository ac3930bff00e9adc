public import SatchelProtocol
public import SatchelServerCore
import Synchronization

/// A store held entirely in memory: for tests, the simulation and trying the server out.
///
/// Contract difference from the file-backed stores: memory is "durable" only for the lifetime
/// of the process. Everything a push acknowledges is kept until the process exits, and no
/// longer. `close()` makes later calls fail with `store_closed`, as for any store; `reopen()`
/// stands for opening the same store again and returns this same instance, open, with
/// everything it held. There is no file, so it is not a `FileBackedStore`.
///
/// The change log and merges run the shared algorithm as plan and apply (`ChangeLogPlan`) over
/// `MemoryChangeLog`. All state sits behind one lock, held from a push's reads to its writes;
/// a push's writes land together once it is planned, as a transaction's would.
public final class MemoryServerStore: ServerStore {
    /// What several store objects share, as a database is shared by its connections.
    private final class Database: Sendable {
        let state: Mutex<State>
        let feed = ChangeFeed()
        init(_ state: State) { self.state = Mutex(state) }
    }
    private let database: Database
    private let closed = Atomic<Bool>(false)
    /// Wall-clock milliseconds, stamped on changes for retention; injected so tests control it.
    private let clock: @Sendable () -> Timestamp

    public init(schema: Schema = .standard, clock: @escaping @Sendable () -> Timestamp = StoreDefaults.wallClock) {
        database = Database(State(log: MemoryChangeLog(schema: schema)))
        self.clock = clock
    }

    /// A second store object on the same data (two servers on one database): every write of
    /// either is seen by both, and both publish to one feed.
    public init(sharing other: MemoryServerStore, clock: (@Sendable () -> Timestamp)? = nil) {
        database = other.database
        self.clock = clock ?? other.clock
    }

    /// Opens the store again after `close()`: the same instance, holding what it held.
    @discardableResult
    public func reopen() -> MemoryServerStore {
        closed.store(false, ordering: .sequentiallyConsistent)
        return self
    }

    public func close() {
        closed.store(true, ordering: .sequentiallyConsistent)
    }

    public var feed: ChangeFeed { database.feed }

    /// Runs `body` on the open store's state, under the lock; what it publishes reaches the
    /// feed in the order the writes were made.
    private func withState<T: Sendable>(_ body: (inout State) throws -> T) throws -> T {
        try database.state.withLock { state in
            guard !closed.load(ordering: .sequentiallyConsistent) else { throw StoreError(.closed, "the store is closed") }
            return try body(&state)
        }
    }

    // MARK: spaces, users, memberships

    public func createSpace(_ space: SpaceID, now: Timestamp) throws {
        try withState { s in
            guard s.spaces[space] == nil else { throw StoreError(.spaceExists, "space '\(space)' already exists") }
            s.spaces[space] = SpaceRow(createdAt: now)
        }
    }

    public func createUser(_ user: UserID, now: Timestamp) throws {
        try withState { s in
            guard s.users[user] == nil else { throw StoreError(.userExists, "user '\(user)' already exists") }
            s.users[user] = UserInfo(id: user, createdAt: now, disabledAt: nil)
        }
    }

    public func setRole(_ role: Role?, user: UserID, space: SpaceID) throws {
        try withState { s in
            try s.requireSpace(space)
            try s.requireUser(user)
            s.memberships[space, default: [:]][user] = role
        }
    }

    public func spaces(of user: UserID) throws -> [SpaceAccess] {
        try withState { $0.spaces(of: user) }
    }

    public func allSpaces() throws -> [SpaceID] {
        try withState { s in s.spaces.keys.sorted(by: bytewise(\.rawValue)) }
    }

    public func setEveryoneReads(_ space: SpaceID, _ everyoneReads: Bool) throws {
        try withState { s in
            try s.requireSpace(space)
            s.spaces[space]!.everyoneReads = everyoneReads
        }
    }

    // MARK: enrollment and devices

    public func createEnrollment(codeHash: [UInt8], user: UserID, label: String?, expiresAt: Timestamp, now: Timestamp) throws {
        try withState { s in
            try s.requireUser(user)
            // The code hash is the enrollment's key (the SQLite table's primary key).
            guard s.enrollments[codeHash] == nil else { throw ConstraintViolation("an enrollment with this code hash already exists") }
            s.enrollments[codeHash] = Enrollment(user: user, label: label, expiresAt: expiresAt)
        }
    }

    public func redeemEnrollment(codeHash: [UInt8], device: DeviceID, label: String?, tokenHash: [UInt8], client: String?, now: Timestamp) throws -> DeviceInfo {
        try withState { s in
            guard let enrollment = s.enrollments[codeHash] else {
                throw StoreError(.enrollmentInvalid, "this enrollment code is not valid; check it, or ask your operator for a new one")
            }
            if enrollment.usedAt != nil {
                throw StoreError(.enrollmentUsed, "this enrollment code was already used; ask your operator for a new one")
            }
            if enrollment.expiresAt <= now {
                throw StoreError(.enrollmentExpired, "this enrollment code has expired; ask your operator for a new one")
            }
            // Device ids and token hashes are unique, as the SQLite store's constraints make them.
            guard s.devices[device] == nil else { throw ConstraintViolation("device '\(device)' already exists") }
            guard s.deviceByToken[tokenHash] == nil else { throw ConstraintViolation("another device holds this token hash") }
            let info = DeviceInfo(id: device, user: enrollment.user, label: label ?? enrollment.label ?? device.rawValue,
                                  client: client, createdAt: now, lastSeenAt: now)
            s.devices[device] = info
            s.deviceByToken[tokenHash] = device
            s.enrollments[codeHash]!.usedAt = now
            return info
        }
    }

    public func device(tokenHash: [UInt8]) throws -> DeviceInfo? {
        try withState { s in s.deviceByToken[tokenHash].flatMap { s.device($0) } }
    }

    public func device(_ id: DeviceID) throws -> DeviceInfo? {
        try withState { $0.device(id) }
    }

    public func touch(_ device: DeviceID, client: String?, now: Timestamp) throws {
        try withState { s in
            // As the SQLite store writes its notes: the latest time wins, a known client is kept.
            guard var info = s.devices[device] else { return }
            info.lastSeenAt = max(info.lastSeenAt ?? 0, now)
            info.client = client ?? info.client
            s.devices[device] = info
        }
    }

    public func revoke(_ device: DeviceID, now: Timestamp) throws {
        try withState { s in
            guard s.devices[device] != nil else { throw Self.unknownDevice(device) }
            s.devices[device]!.revokedAt = s.devices[device]!.revokedAt ?? now
            feed.publish(.revoked(device: device))
        }
    }

    // MARK: operators and the per-device view

    public func createOperatorToken(hash: [UInt8], label: String, now: Timestamp) throws {
        try withState { s in
            guard s.operatorTokens[hash] == nil else { throw ConstraintViolation("an operator token with this hash already exists") }
            s.operatorTokens[hash] = label
        }
    }

    public func operatorToken(hash: [UInt8]) throws -> String? {
        try withState { $0.operatorTokens[hash] }
    }

    public func devices(of user: UserID?) throws -> [DeviceInfo] {
        try withState { s in
            s.devices.keys.compactMap { s.device($0) }
                .filter { user == nil || $0.user == user }
                .sorted { a, b in
                    // By user, then label, then id, compared as SQLite compares text (bytes).
                    let keys = [(a.user.rawValue, b.user.rawValue), (a.label, b.label), (a.id.rawValue, b.id.rawValue)]
                    guard let (x, y) = keys.first(where: { $0.0 != $0.1 }) else { return false }
                    return x.utf8.lexicographicallyPrecedes(y.utf8)
                }
        }
    }

    public func users() throws -> [UserInfo] {
        try withState { s in s.users.values.sorted(by: bytewise(\.id.rawValue)) }
    }

    public func disableUser(_ user: UserID, now: Timestamp) throws {
        try withState { s in
            try s.requireUser(user)
            s.users[user]!.disabledAt = s.users[user]!.disabledAt ?? now
            feed.publish(.userDisabled(user: user))
        }
    }

    public func recordPull(device: DeviceID, space: SpaceID, cursor: Version, now: Timestamp) throws {
        // The latest report replaces the earlier one, as the SQLite store's row does.
        try withState { $0.cursors[device, default: [:]][space] = PullProgress(cursor: cursor, at: now) }
    }

    public func recordRejections(_ results: [MutationResult], device: DeviceID, now: Timestamp) throws {
        try withState { s in
            for r in results {
                guard let reason = r.rejection else { continue }
                s.rejections[device, default: []].append(MutationResult(mutation: r.mutation, status: .rejected, version: 0, rejection: reason))
            }
        }
    }

    public func activity(of device: DeviceID) throws -> DeviceActivity {
        try withState { s in
            guard let info = s.device(device) else { throw Self.unknownDevice(device) }
            let progress = s.spaces(of: info.user).map { access in
                let pulled = s.cursors[device]?[access.space]
                let cursor = pulled?.cursor ?? 0
                return DeviceActivity.SpaceProgress(
                    space: access.space, cursor: cursor, pulledAt: pulled?.at, behind: s.log.changeCount(in: access.space, after: cursor))
            }
            let rejected = Array((s.rejections[device] ?? []).reversed().prefix(20))
            let conflicts = s.log.records
                .filter { $0.key.collection == .conflicts && !$0.value.deleted && $0.value.values["keptDevice"] == .string(device.rawValue) }
                .map(\.key)
            return DeviceActivity(spaces: progress, rejected: rejected, openConflicts: conflicts.sorted())
        }
    }

    // MARK: sync

    public func push(_ mutations: [Mutation]) throws -> [MutationResult] {
        try write(mutations, asOperator: false)
    }

    public func operatorWrite(_ mutations: [Mutation]) throws -> [MutationResult] {
        try write(mutations, asOperator: true)
    }

    /// Plans `mutations` over the log and writes the plan: nothing is written before the whole
    /// push is planned, so nothing is half-applied.
    private func write(_ mutations: [Mutation], asOperator: Bool) throws -> [MutationResult] {
        let now = clock()
        return try withState { s in
            s.log.now = now
            let spaces = Set(mutations.map(\.key.space)).sorted(by: bytewise(\.rawValue))
            let before = spaces.map { s.log.head(of: $0) }
            let results = try s.log.apply(mutations, asOperator: asOperator)
            feed.publish(zip(spaces, before).compactMap { space, head in
                let count = s.log.changeCount(in: space, after: head)
                return count == 0 ? nil : .advanced(space: space, head: s.log.head(of: space), changes: count)
            })
            return results
        }
    }

    public func pull(space: SpaceID, after: Version, limit: Int, omitting device: DeviceID?) throws -> EncodedPage {
        try withState { s in
            // Changes left out still move the cursor past them: a last page ends at the head.
            let rows = s.log.changes(in: space, after: after)
                .lazy.filter { device == nil || $0.asWrittenBy != device }
                .map { (version: $0.change.version, encoded: $0.encoded) }
            return s.page(space, after: after, limit: limit, rows)
        }
    }

    public func writeState(of device: DeviceID) throws -> DeviceWriteState? {
        try withState { $0.log.writeState(of: device) }
    }

    public func head(of space: SpaceID) throws -> (head: Version, horizon: Version) {
        try withState { s in (s.log.head(of: space), s.log.horizon(of: space)) }
    }

    public func record(_ key: RecordKey) throws -> RecordState? {
        try withState { $0.log.record(key) }
    }

    public func records(in space: SpaceID, collection: CollectionName) throws -> [RecordKey: RecordState] {
        try withState { s in s.log.records.filter { $0.key.space == space && $0.key.collection == collection } }
    }

    // MARK: retention and operations

    public func snapshot(space: SpaceID, after: Version, limit: Int) throws -> EncodedPage {
        try withState { s in
            let states = s.log.records.filter { $0.key.space == space && $0.value.version > after }.sorted { $0.value.version < $1.value.version }
            let rows = states.lazy.map { (version: $0.value.version, encoded: Change(snapshotOf: $0.value, key: $0.key).wireBytes) }
            return s.page(space, after: after, limit: limit, rows)
        }
    }

    public func version(of space: SpaceID, writtenBefore cutoff: Timestamp) throws -> Version {
        try withState { s in s.log.changes(in: space, after: 0).last { $0.at < cutoff }?.change.version ?? 0 }
    }

    public func compact(_ space: SpaceID, through version: Version, dryRun: Bool) throws -> CompactionReport {
        try withState { s in
            guard s.spaces[space] != nil else {
                throw StoreError(.unknownSpace, "space '\(space)' does not exist; `satchel-server space list` shows the spaces")
            }
            let head = s.log.head(of: space)
            guard version <= head else {
                throw StoreError(.beyondHead, "space '\(space)' is at version \(head); it cannot be compacted through \(version)")
            }
            // A dry run compacts a copy and reports its counts.
            var log = s.log
            let report = log.compact(space, through: version, dryRun: dryRun)
            if !dryRun {
                s.log = log
                feed.publish(.compacted(space: space, horizon: report.horizon))
            }
            return report
        }
    }

    public func requestReset(device: DeviceID, space: SpaceID, now: Timestamp) throws {
        try withState { s in
            guard s.devices[device] != nil else { throw Self.unknownDevice(device) }
            guard s.spaces[space] != nil else {
                throw StoreError(.unknownSpace, "space '\(space)' does not exist; `satchel-server space list` shows the spaces")
            }
            s.forcedResets.insert(DeviceSpace(device: device, space: space))
            feed.publish(.resetRequested(device: device, space: space))
        }
    }

    public func resetRequested(device: DeviceID, space: SpaceID, clear: Bool) throws -> Bool {
        try withState { s in
            let key = DeviceSpace(device: device, space: space)
            return clear ? s.forcedResets.remove(key) != nil : s.forcedResets.contains(key)
        }
    }

    /// Bookkeeping is kept as it is noted: nothing waits to be written.
    public func flushActivity() throws {
        try withState { _ in }
    }

    private static func unknownDevice(_ device: DeviceID) -> StoreError {
        StoreError(.unknownDevice, "device '\(device)' does not exist; `satchel-server device list` shows the devices")
    }
}

/// Orders by a text key as SQLite compares text: byte by byte.
private func bytewise<T>(_ key: @escaping (T) -> String) -> (T, T) -> Bool {
    { key($0).utf8.lexicographicallyPrecedes(key($1).utf8) }
}

// MARK: inspection (tests and the simulation's checkers)

extension MemoryServerStore {
    /// The stored results of `mutations` (nil for one never stored), with the device that wrote
    /// each, read under one lock.
    public func storedResults(_ mutations: [MutationID]) -> [(device: DeviceID, result: MutationResult)?] {
        database.state.withLock { s in mutations.map { s.log.result(of: $0) } }
    }

    /// The changes of `space` still in the log, in version order.
    public func loggedChanges(in space: SpaceID) -> [Change] {
        database.state.withLock { s in s.log.changes(in: space, after: 0).map(\.change) }
    }
}

/// A uniqueness rule broken (a duplicate key the SQLite store's constraints would refuse).
struct ConstraintViolation: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: state

extension MemoryServerStore {
    struct SpaceRow: Sendable {
        var createdAt: Timestamp
        var everyoneReads = false
    }

    struct Enrollment: Sendable {
        var user: UserID
        var label: String?
        var expiresAt: Timestamp
        var usedAt: Timestamp?
    }

    struct PullProgress: Sendable {
        var cursor: Version
        var at: Timestamp
    }

    struct DeviceSpace: Hashable, Sendable {
        var device: DeviceID
        var space: SpaceID
    }

    /// Everything the store holds, as the SQLite store's tables hold it.
    struct State: Sendable {
        var log: MemoryChangeLog
        var spaces: [SpaceID: SpaceRow] = [:]
        var users: [UserID: UserInfo] = [:]
        var memberships: [SpaceID: [UserID: Role]] = [:]
        /// Devices as stored; `userDisabled` is filled in when read (`device(_:)`).
        var devices: [DeviceID: DeviceInfo] = [:]
        var deviceByToken: [[UInt8]: DeviceID] = [:]
        var enrollments: [[UInt8]: Enrollment] = [:]
        var operatorTokens: [[UInt8]: String] = [:]
        var cursors: [DeviceID: [SpaceID: PullProgress]] = [:]
        /// Each device's refusals, oldest first.
        var rejections: [DeviceID: [MutationResult]] = [:]
        var forcedResets: Set<DeviceSpace> = []

        func requireSpace(_ space: SpaceID) throws {
            guard spaces[space] != nil else {
                throw StoreError(.unknownSpace, "space '\(space)' does not exist; create it with `satchel-server space create \(space)`")
            }
        }

        func requireUser(_ user: UserID) throws {
            guard users[user] != nil else {
                throw StoreError(.unknownUser, "user '\(user)' does not exist; add it with `satchel-server user add \(user)`")
            }
        }

        /// The device with whether its user is disabled now.
        func device(_ id: DeviceID) -> DeviceInfo? {
            guard var info = devices[id] else { return nil }
            info.userDisabled = users[info.user]?.disabledAt != nil
            return info
        }

        /// The spaces `user` is a member of or everyone reads, by id; a membership's role wins.
        func spaces(of user: UserID) -> [SpaceAccess] {
            spaces.compactMap { id, row -> SpaceAccess? in
                let role = memberships[id]?[user]
                guard role != nil || row.everyoneReads else { return nil }
                return SpaceAccess(space: id, role: role ?? .reader, head: log.head(of: id), horizon: log.horizon(of: id))
            }.sorted(by: bytewise(\.space.rawValue))
        }

        /// Up to `limit` of `rows` (ascending versions after `after`), cut by bytes too (always at
        /// least one), as the SQLite store pages them. A page with nothing after it ends at the
        /// log's head (versions are shared by all spaces), so even a first pull of an empty space
        /// ends above 0.
        func page(_ space: SpaceID, after: Version, limit: Int, _ rows: some Sequence<(version: Version, encoded: [UInt8])>) -> EncodedPage {
            var taken: [(version: Version, encoded: [UInt8])] = [], bytes = 0, hasMore = false
            for row in rows {
                if taken.count == limit || (!taken.isEmpty && bytes + row.encoded.count > StoreDefaults.pageBytes) {
                    hasMore = true
                    break
                }
                taken.append(row)
                bytes += row.encoded.count
            }
            let end = max(log.currentHead(), after)
            return EncodedPage(encodedChanges: taken.map(\.encoded), cursor: hasMore ? taken.last!.version : end,
                               hasMore: hasMore, head: log.head(of: space))
        }
    }
}
