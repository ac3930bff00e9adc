import Foundation
import SatchelSQLite
import Testing

/// Checkpoints leave the writer's commits: the writer no longer copies its log back itself, and
/// the checkpointer keeps the log bounded beside it.
@Suite struct CheckpointerTests {
    func walBytes(_ path: String) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
    }

    /// Commits `rounds` transactions of about 40 pages each.
    func write(_ db: Database, rounds: Int) throws {
        let blob = [UInt8](repeating: 7, count: 4000)
        for _ in 0..<rounds {
            try db.transaction { for _ in 0..<40 { try db.run("INSERT INTO t (data) VALUES (?)", blob) } }
        }
    }

    @Test func theLogStaysBoundedWithoutTheWriterCheckpointing() throws {
        try withTemporaryPath { path in
            let writer = try Database(path: path)
            try writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)")
            let pageBytes = 4096, threshold: Int32 = 200
            // Without checkpoints at all the log only grows: what the writer no longer does alone.
            writer.onWALCommit { _ in false }
            try write(writer, rounds: 50)
            let unchecked = walBytes(path)
            #expect(unchecked > 1_900 * pageBytes)
            try writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")

            let checkpointer = try Checkpointer(path: path, threshold: threshold)
            checkpointer.attach(to: writer)
            // Steady writes with no pause: checkpoints run beside them, and the writer restarts
            // the log once it is four times the threshold.
            try write(writer, rounds: 50)
            let deadline = ContinuousClock.now + .seconds(10)
            while checkpointer.checkpoints == 0 && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.005) }
            #expect(checkpointer.checkpoints > 0)
            // Four times the threshold, and room for the writes of a few transactions more while
            // the checkpointer thread waits for a core on a loaded machine: still well apart
            // from the unchecked log above.
            #expect(walBytes(path) <= (4 * Int(threshold) + 200) * (pageBytes + 24) + 32)
            #expect(try writer.integer("SELECT count(*) FROM t") == 4_000)
            writer.close()
            checkpointer.close()
            // Everything committed is in the file once the log is gone.
            let reopened = try Database(path: path)
            #expect(try reopened.integer("SELECT count(*) FROM t") == 4_000)
        }
    }
}
