import Logging
public import SatchelProtocol
public import SatchelServerCore
public import SatchelSQLite
public import ServiceLifecycle
import Synchronization

/// Publishes to a store's feed what every writer of its database committed: this store object,
/// another one in the same process, and the operator commands run on the data directory by
/// another process (`briefing load`, `device revoke --data`).
///
/// It reads the database itself, after the commit: new changes per space from the change log
/// (versions become visible in order, so a read that sees version v sees every version below
/// it), and operator events from `feed_events`, written in the transaction that made them. This
/// store object's commits wake it at once; others' are found within `interval`.
final class SQLiteFeedTail: Service, Sendable {
    struct Position: Sendable, Equatable {
        var version: Version
        var seq: Int64
    }

    private let readers: ReaderPool
    private let feed: ChangeFeed
    private let position: Mutex<Position>
    let wake = WakeSignal()
    let interval: Duration

    init(readers: ReaderPool, feed: ChangeFeed, from position: Position, interval: Duration = .milliseconds(250)) {
        self.readers = readers
        self.feed = feed
        self.position = Mutex(position)
        self.interval = interval
    }

    /// Where the database is now: a tail starts there, so it publishes only what comes after.
    static func position(_ db: Database) throws -> Position {
        Position(
            version: try db.query("SELECT coalesce(max(version), 0) FROM changes") { $0.int64(at: 0) }.first ?? 0,
            seq: try db.query("SELECT coalesce(max(seq), 0) FROM feed_events") { $0.int64(at: 0) }.first ?? 0)
    }

    func run() async throws {
        let logger = Logger(label: "satchel.feed")
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.wake.wait(timeout: self.interval)
                do {
                    try await self.poll()
                } catch let error as StoreError where error.code == .closed {
                    return
                } catch {
                    // A busy or failing read is tried again at the next wake; nothing is skipped,
                    // since the position moves only with what was read.
                    logger.warning("reading the change feed failed", metadata: ["error": "\((error as? any BackendFailure)?.logDescription ?? "\(type(of: error))")"])
                }
            }
        }
    }

    /// Reads what was committed since the last poll and publishes it.
    func poll() async throws {
        let from = position.withLock { $0 }
        let (events, to) = try await read(after: from)
        // Only this task polls, so the position is still `from`.
        position.withLock { $0 = to }
        feed.publish(events)
    }

    private func read(after from: Position) async throws -> ([StoreEvent], Position) {
        do {
            return try await readers.read { db in
                try db.transaction(.deferred) {
                    var to = from
                    var events = try db.query(
                        "SELECT space, max(version), count(*) FROM changes WHERE version > ? GROUP BY space ORDER BY space", from.version
                    ) { row -> StoreEvent in
                        to.version = max(to.version, row.int64(at: 1))
                        return .advanced(space: SpaceID(unchecked: row.string(at: 0)), head: row.int64(at: 1), changes: row.int(at: 2))
                    }
                    events += try db.query(
                        "SELECT seq, kind, space, device, user, version FROM feed_events WHERE seq > ? ORDER BY seq", from.seq
                    ) { row -> StoreEvent? in
                        to.seq = row.int64(at: 0)
                        return StoredEvent(kind: row.string(at: 1), space: row.isNull(at: 2) ? nil : row.string(at: 2),
                                           device: row.isNull(at: 3) ? nil : row.string(at: 3), user: row.isNull(at: 4) ? nil : row.string(at: 4),
                                           version: row.isNull(at: 5) ? nil : row.int64(at: 5)).event
                    }.compactMap { $0 }
                    return (events, to)
                }
            }
        } catch let error as SQLiteError where error.code == 21 {
            throw StoreError(.closed, "the store is closed")
        }
    }
}

/// Operator events as rows of `feed_events`, written in the transaction that makes them.
enum FeedEventRow {
    /// Rows are kept this long: long enough for any server of the database to read them.
    static let keepMillis: Int64 = 3_600_000

    static func write(_ event: StoreEvent, at now: Timestamp, _ db: Database) throws {
        guard let row = StoredEvent(event) else { return }  // changes are read from the change log itself
        try db.run("INSERT INTO feed_events (at, kind, space, device, user, version) VALUES (?, ?, ?, ?, ?, ?)",
                   now, row.kind, row.space, row.device, row.user, row.version)
        try db.run("DELETE FROM feed_events WHERE at < ?", now - keepMillis)
    }
}
