import Dispatch
import Foundation

/// At most `maxConnections` read-only connections to one WAL database, each lent to one read at
/// a time, with the reads run on dispatch threads rather than Swift's cooperative ones.
///
/// In WAL mode a reader sees the last commit and never waits for the writer, so reads served
/// from here stay fast while a long write transaction runs on the writer's own connection.
/// Connections are opened on demand up to the bound; a read that finds all of them lent waits
/// (suspended, in arrival order) for one to come back instead of opening another, so 200
/// concurrent pulls use `maxConnections` connections, not 200.
///
/// ```swift
/// let readers = ReaderPool(path: "/var/lib/satchel/satchel.sqlite")
/// let count = try await readers.read { db in try db.query("SELECT count(*) FROM notes") { $0.int64(at: 0) } }
/// ```
public final class ReaderPool: @unchecked Sendable {
    // @unchecked: the fields below are only touched under `lock`, and a lent Database is used
    // by one read at a time, which is all SQLite's NOMUTEX connections need.
    private let lock = NSLock()
    private var idle: [Database] = []
    private var opened = 0
    private var waiting: [CheckedContinuation<Lent, any Error>] = []
    private var closed = false
    private let configuration: DatabaseConfiguration
    public let maxConnections: Int
    private let setUp: @Sendable (Database) throws -> Void
    /// Where reads run: SQLite calls block, so not on the cooperative pool.
    private let queue = DispatchQueue(label: "satchel.readers", qos: .userInitiated, attributes: .concurrent)

    /// Readers of the database at `path`, which must exist and be in WAL mode. `setUp` runs on
    /// each new connection (for pragmas such as its cache size).
    public init(path: String, maxConnections: Int = 4, setUp: @escaping @Sendable (Database) throws -> Void = { _ in }) {
        precondition(maxConnections > 0)
        configuration = DatabaseConfiguration(path: path, readOnly: true)
        self.maxConnections = maxConnections
        self.setUp = setUp
    }

    /// Runs `body` with a connection no one else is using, on a dispatch thread.
    public func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let lent = try await take()
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                let result = Result { try body(lent.db) }
                self.give(lent.db)
                continuation.resume(with: result)
            }
        }
    }

    /// A connection on its way to the one read it is lent to: only that read uses it.
    private struct Lent: @unchecked Sendable { let db: Database }

    /// How many connections are open (lent or idle), for tests.
    public var openConnections: Int { lock.withLock { opened } }
    /// How many reads wait for a connection, for tests.
    public var waitingReads: Int { lock.withLock { waiting.count } }

    private func take() async throws -> Lent {
        enum Next { case use(Database), open, wait }
        let next: Next = try lock.withLock {
            if closed { throw Self.closedError }
            if let db = idle.popLast() { return .use(db) }
            if opened < maxConnections {
                opened += 1
                return .open
            }
            return .wait
        }
        switch next {
        case .use(let db): return Lent(db: db)
        case .open:
            do {
                let db = try Database(configuration: configuration)
                try setUp(db)
                return Lent(db: db)
            } catch {
                lock.withLock { opened -= 1 }
                throw error
            }
        case .wait:
            return try await withCheckedThrowingContinuation { continuation in
                // A connection may have come back (or the pool closed) since the check above.
                let now: Result<Lent, any Error>? = lock.withLock {
                    if closed { return .failure(Self.closedError) }
                    if let db = idle.popLast() { return .success(Lent(db: db)) }
                    waiting.append(continuation)
                    return nil
                }
                if let now { continuation.resume(with: now) }
            }
        }
    }

    private func give(_ db: Database) {
        let (waiter, close): (CheckedContinuation<Lent, any Error>?, Bool) = lock.withLock {
            if closed {
                opened -= 1
                return (nil, true)
            }
            if !waiting.isEmpty { return (waiting.removeFirst(), false) }
            idle.append(db)
            return (nil, false)
        }
        if close { db.close() }
        waiter?.resume(returning: Lent(db: db))
    }

    /// Closes the idle connections (lent ones close when they come back) and refuses reads,
    /// those waiting included.
    public func close() {
        let (all, waiters) = lock.withLock {
            closed = true
            defer { idle = []; waiting = [] }
            opened -= idle.count
            return (idle, waiting)
        }
        for db in all { db.close() }
        for w in waiters { w.resume(throwing: Self.closedError) }
    }

    static let closedError = SQLiteError(code: 21 /* SQLITE_MISUSE */, message: "the database is closed", sql: nil)
}
