import Foundation
import Logging
import SatchelProtocol
import SatchelServer
import SatchelServerCore
import SatchelServerSQLite
import SatchelTesting

/// A device's credentials, made by the orchestrator straight in the server's store and handed to
/// a worker process.
struct Account: Codable, Sendable {
    var device: String
    var user: String
    var token: String
}

/// The real sync server, run in this process on 127.0.0.1 and a free port, on its own data
/// folder. Set it up through `store` before `start()`; `stop()` cancels it (it closes its store).
final class BenchServer: @unchecked Sendable {
    let configuration: ServerConfiguration
    private var task: Task<Void, any Error>?
    private(set) var url = ""
    private var rng: SplitMix64
    /// The server's cache of compressed bootstrap pages (built in the background after start).
    let snapshots = SnapshotCache()

    /// A server on the SQLite store in `directory`, or on the PostgreSQL `database` when given.
    init(directory: String, seed: UInt64, database: String? = nil) {
        configuration = ServerConfiguration(host: "127.0.0.1", port: 0, dataDirectory: directory, database: database, heartbeat: .seconds(10))
        rng = SplitMix64(seed: seed)
    }

    var databasePath: String { configuration.databasePath }

    /// Opens the server's store for setting up; close it before `start()`.
    func openStore() async throws -> any ServerStore {
        var logger = Logger(label: "satchel-bench-store")
        logger.logLevel = .warning  // a migration's line would interleave with the report
        return try await SatchelServerApp.openStore(configuration, logger: logger)
    }

    /// Makes a device for `user` (creating the user if needed) with a fresh token: an
    /// enrollment code created and redeemed in the store, as `satchel-server enroll` and
    /// `/v1/enroll` do, without the HTTP round trip.
    func account(_ store: any ServerStore, user: String, device: String) async throws -> Account {
        let now = Timestamp(Date().timeIntervalSince1970 * 1000)
        let userID = UserID(unchecked: user)
        do { try await store.createUser(userID, now: now) } catch let e as StoreError where e.code == .userExists {}
        let code = Credentials.newEnrollmentCode(using: &rng)
        let token = Credentials.newToken(using: &rng)
        try await store.createEnrollment(codeHash: Credentials.hash(code: code), user: userID, label: device, expiresAt: now + 3_600_000, now: now)
        let info = try await store.redeemEnrollment(
            codeHash: Credentials.hash(code: code), device: DeviceID(unchecked: "d-" + device), label: device,
            tokenHash: Credentials.hash(token: token), client: "satchel-bench", now: now)
        return Account(device: info.id.rawValue, user: user, token: token)
    }

    static func createSpace(_ store: any ServerStore, _ space: String, members: [(String, Role)]) async throws {
        let now = Timestamp(Date().timeIntervalSince1970 * 1000)
        try await store.createSpace(SpaceID(unchecked: space), now: now)
        for (user, role) in members {
            do { try await store.createUser(UserID(unchecked: user), now: now) } catch let e as StoreError where e.code == .userExists {}
            try await store.setRole(role, user: UserID(unchecked: user), space: SpaceID(unchecked: space))
        }
    }

    /// Writes `count` seeded notes into `space` through the store's push (the code path a
    /// device's push takes after access checks), `batch` per transaction.
    static func seedNotes(
        _ store: any ServerStore, space: String, count: Int, factory: NoteFactory, batch: Int = 1000, small: Bool = false,
        progress: (Int) -> Void = { _ in }
    ) async throws {
        // One seeding device per space: a device uses each counter once.
        let device = DeviceID(unchecked: "d-seed-\(space.prefix(40))")
        var done = 0
        while done < count {
            let n = min(batch, count - done)
            let mutations = (done..<done + n).map { seedMutation($0, space: space, device: device, factory: factory, small: small) }
            let results = try await store.push(mutations)
            if let bad = results.first(where: { $0.status == .rejected }) {
                throw BenchError("seeding was refused: \(bad.rejection.map { "\($0)" } ?? "?")")
            }
            done += n
            progress(done)
        }
    }

    static func seedMutation(_ i: Int, space: String, device: DeviceID, factory: NoteFactory, small: Bool) -> Mutation {
        var rng = factory.rng(i, salt: 0xA5A5)
        let key = RecordKey(space: SpaceID(unchecked: space), collection: .notes, record: .random(using: &rng))
        var changes: [FieldName: FieldChange]
        let t = NoteFactory.epoch + Int64(i)
        if small {
            // The growth log: short notes, so a million of them load in reasonable time.
            changes = ["title": .set(.string("log entry \(i)")), "body": .set(.text(String(factory.note(i % 64).body.prefix(120))))]
        } else {
            let note = factory.note(i)
            changes = [
                "title": .set(.string(note.title)), "body": .set(.text(note.body)), "tags": .set(.set(note.tags)),
                "createdAt": .set(.timestamp(note.createdAt)), "updatedAt": .set(.timestamp(note.createdAt)),
                "author": .set(.string("seed")),
            ]
        }
        return Mutation(
            id: MutationID(unchecked: "seed-\(space.prefix(24))-\(i)"), device: device, counter: UInt64(i + 1),
            clock: HLC(millis: t, counter: 0), key: key, baseVersion: 0, operation: .create, changes: changes)
    }

    /// Starts serving; returns once the port is bound.
    func start() async throws {
        var logger = Logger(label: "satchel-bench-server")
        // Cancelling the server logs its shutdown at error level; only critical problems matter here.
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let configuration = self.configuration, snapshots = self.snapshots
        task = Task {
            defer { continuation.finish() }
            try await SatchelServerApp.run(configuration, logger: logger, snapshots: snapshots, onRunning: { port in continuation.yield(port) })
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            _ = try await task?.value
            throw BenchError("the server stopped before it was listening")
        }
        url = "http://127.0.0.1:\(port)"
    }

    /// Waits until the snapshot cache holds `records` records; returns the seconds waited.
    func waitForSnapshots(records: Int, timeout: Double = 600) async throws -> Double {
        let t0 = monotonicNanos()
        while snapshots.totalCachedRecords < records {
            if seconds(since: t0) > timeout { throw BenchError("the snapshot cache holds \(snapshots.totalCachedRecords) of \(records) records after \(timeout) s") }
            try await Task.sleep(for: .milliseconds(20))
        }
        return seconds(since: t0)
    }

    /// Stops serving (in-flight requests are cut) and waits until the store is closed.
    func stop() async {
        task?.cancel()
        _ = try? await task?.value
        task = nil
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
