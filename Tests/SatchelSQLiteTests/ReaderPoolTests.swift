import Foundation
import SatchelSQLite
import SatchelTestSupport
import Testing

/// The read-only pool is bounded: callers beyond its connections wait for one, in order, and
/// every read still sees the last commit.
@Suite struct ReaderPoolTests {
    let dir = TemporaryDirectory()

    func database() throws -> (Database, String) {
        let path = dir.file("pool.sqlite")
        let db = try Database(path: path)
        try db.execute("CREATE TABLE t (x INTEGER)")
        try db.run("INSERT INTO t VALUES (1)")
        return (db, path)
    }

    @Test func twoHundredConcurrentReadsShareFourConnections() async throws {
        let (writer, path) = try database()
        defer { writer.close() }
        let pool = ReaderPool(path: path, maxConnections: 4)
        let load = Locked<(running: Int, busiest: Int)>((0, 0))
        let sums = try await withThrowingTaskGroup(of: Int64.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    try await pool.read { db in
                        load.withLock { $0.running += 1; $0.busiest = max($0.busiest, $0.running) }
                        defer { load.withLock { $0.running -= 1 } }
                        usleep(1_000)  // a read that takes a moment, so callers pile up
                        return try db.query("SELECT sum(x) FROM t") { $0.int64(at: 0) }[0]
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(sums.count == 200 && sums.allSatisfy { $0 == 1 })
        #expect(pool.openConnections <= 4)
        #expect(load.withLock { $0.busiest } <= 4)
        // A read after a commit sees it.
        try writer.run("INSERT INTO t VALUES (41)")
        #expect(try await pool.read { try $0.query("SELECT sum(x) FROM t") { $0.int64(at: 0) }[0] } == 42)
        pool.close()
    }

    @Test func closingRefusesReadsThoseWaitingIncluded() async throws {
        let (writer, path) = try database()
        defer { writer.close() }
        let pool = ReaderPool(path: path, maxConnections: 1)
        // The one connection is held until the test lets go, so the second read must wait.
        let release = DispatchSemaphore(value: 0)
        let holding = Task { try await pool.read { _ in release.wait() } }
        while pool.openConnections == 0 { try await Task.sleep(for: .milliseconds(5)) }
        let waiting = Task { try await pool.read { _ in 1 } }
        while pool.waitingReads == 0 { try await Task.sleep(for: .milliseconds(5)) }
        pool.close()
        release.signal()
        await #expect(throws: SQLiteError.self) { try await waiting.value }
        try await holding.value
        await #expect(throws: SQLiteError.self) { try await pool.read { _ in 1 } }
        #expect(pool.openConnections == 0)
    }
}
