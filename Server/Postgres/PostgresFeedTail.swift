import Logging
import PostgresNIO
import SatchelProtocol
import SatchelServerCore
import ServiceLifecycle
import Synchronization

/// Publishes to a store's feed what every server of the database committed, as
/// `SQLiteFeedTail` does for SQLite: it reads the database itself, after the commit (new changes
/// per space from the change log, operator events from `feed_events`), so it never announces a
/// change before it is visible, and a notification lost with a dropped connection loses
/// nothing: the next read finds what it announced.
///
/// It is woken by `NOTIFY satchel_feed`, which every write that matters sends in its own
/// transaction (PostgreSQL delivers it at the commit, to every listening server), and reads
/// every `interval` besides.
final class PostgresFeedTail: Service, Sendable {
    struct Position: Sendable, Equatable {
        var version: Version
        var seq: Int64
    }

    static let channel = "satchel_feed"
    /// Rows of `feed_events` are kept this long: long enough for any server to read them.
    static let keepMillis: Int64 = 3_600_000

    private let client: PostgresClient
    private let feed: ChangeFeed
    private let position: Mutex<Position>
    private let wake = WakeSignal()
    let interval: Duration
    private let logger: Logger

    init(client: PostgresClient, feed: ChangeFeed, from position: Position, interval: Duration, logger: Logger) {
        self.client = client
        self.feed = feed
        self.position = Mutex(position)
        self.interval = interval
        self.logger = logger
    }

    /// Where the database is now: a tail starts there, so it publishes only what comes after.
    static func position(_ connection: PostgresConnection, logger: Logger) async throws -> Position {
        guard let row = try await connection.rows("SELECT (SELECT version FROM log_head), (SELECT seq FROM feed_head)", logger: logger).first else {
            return Position(version: 0, seq: 0)
        }
        let (version, seq) = try row.decode((Int64, Int64).self)
        return Position(version: version, seq: seq)
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.listen() }
                group.addTask { await self.follow() }
                await group.next()
                group.cancelAll()
            }
        }
    }

    /// Reads and publishes at every wake, and every `interval` without one.
    private func follow() async {
        while !Task.isCancelled {
            await wake.wait(timeout: interval)
            guard !Task.isCancelled else { return }
            do {
                try await poll()
            } catch {
                // A failing read is tried again at the next wake; nothing is skipped, since the
                // position moves only with what was read.
                if Task.isCancelled { return }
                logger.warning("reading the change feed failed", metadata: ["error": "\((error as? any BackendFailure)?.logDescription ?? "\(type(of: error))")"])
            }
        }
    }

    /// Listens for other servers' commits on a connection of its own, again after it drops.
    private func listen() async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.channel) { notifications in
                        // Whatever was committed while not listening is read now.
                        self.wake.signal()
                        for try await _ in notifications { self.wake.signal() }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("listening for other servers' commits failed; reading every \(interval) until it works again", metadata: ["error": "\((error as? any BackendFailure)?.logDescription ?? "\(type(of: error))")"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Reads what was committed since the last poll and publishes it.
    func poll() async throws {
        let from = position.withLock { $0 }
        var to = from
        // One statement, one snapshot: the change log and the events as of one moment.
        let rows = try await client.rows(
            """
            SELECT 'c', space, max(version), count(*)::bigint, NULL::text, NULL::text, NULL::text FROM changes WHERE version > \(from.version) GROUP BY space
            UNION ALL
            SELECT 'e', space, version, seq, kind, device, user_id FROM feed_events WHERE seq > \(from.seq)
            """, logger: logger)
        var changes: [StoreEvent] = [], events: [(Int64, StoreEvent)] = []
        for row in rows {
            let (source, space, version, number, kind, device, user) = try row.decode((String, String?, Int64?, Int64, String?, String?, String?).self)
            if source == "c" {
                let head = version ?? 0
                to.version = max(to.version, head)
                changes.append(.advanced(space: SpaceID(unchecked: space ?? ""), head: head, changes: Int(number)))
            } else {
                to.seq = max(to.seq, number)
                if let event = StoredEvent(kind: kind ?? "", space: space, device: device, user: user, version: version).event { events.append((number, event)) }
            }
        }
        // Only this task polls, so the position is still `from`.
        position.withLock { $0 = to }
        let advanced = changes.sorted { if case .advanced(let a, _, _) = $0, case .advanced(let b, _, _) = $1 { a.rawValue < b.rawValue } else { false } }
        feed.publish(advanced + events.sorted { $0.0 < $1.0 }.map(\.1))
    }

    /// Wakes every server's tail when the current transaction commits.
    static func notify(_ tx: PostgresConnection, logger: Logger) async throws {
        try await tx.rows("SELECT pg_notify(\(channel), '')", logger: logger)
    }

    /// Writes `event` for every server's feed in the current transaction, numbered under
    /// `feed_head`'s row lock so numbers become visible in order, and notifies.
    static func record(_ event: StoreEvent, at now: Timestamp, _ tx: PostgresConnection, logger: Logger) async throws {
        guard let row = StoredEvent(event) else { return }  // changes are read from the change log itself
        try await tx.rows(
            """
            WITH next AS (UPDATE feed_head SET seq = seq + 1 RETURNING seq)
            INSERT INTO feed_events (seq, at, kind, space, device, user_id, version)
            SELECT seq, \(now), \(row.kind), \(row.space), \(row.device), \(row.user), \(row.version) FROM next
            """, logger: logger)
        try await tx.rows("DELETE FROM feed_events WHERE at < \(now - keepMillis)", logger: logger)
        try await notify(tx, logger: logger)
    }
}
