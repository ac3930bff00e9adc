import Foundation
import SatchelSQLite
import SatchelTestSupport
import Testing

@Suite struct BusyTests {
    @Test func writerGetsBusyAfterTheTimeout() throws {
        try withTemporaryPath { path in
            let holder = try Database(path: path)
            try holder.execute("CREATE TABLE t(x)")
            let waiter = try Database(configuration: DatabaseConfiguration(path: path, busyTimeout: .milliseconds(150)))
            try holder.execute("BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")

            let clock = ContinuousClock()
            let start = clock.now
            let error = try #require(throws: SQLiteError.self) {
                try waiter.transaction { try waiter.run("INSERT INTO t VALUES (2)") }
            }
            #expect(error.isBusy && error.name == "busy")
            #expect(clock.now - start >= .milliseconds(100), "the busy timeout was not waited out")
            // WAL: the reader still sees the last committed state while the writer holds its lock.
            #expect(try waiter.integer("SELECT count(*) FROM t") == 0)

            try holder.execute("COMMIT")
            try waiter.transaction { try waiter.run("INSERT INTO t VALUES (2)") }
            #expect(try holder.integer("SELECT count(*) FROM t") == 2)
        }
    }

    @Test func writerWaitsForTheOtherToCommit() throws {
        try withTemporaryPath { path in
            let holder = try Database(path: path)
            try holder.execute("CREATE TABLE t(x)")
            try holder.execute("BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")

            let started = DispatchSemaphore(value: 0)
            let finished = DispatchSemaphore(value: 0)
            let outcome = Locked("not run")
            let thread = Thread {
                defer { finished.signal() }
                started.signal()
                do {
                    let waiter = try Database(
                        configuration: DatabaseConfiguration(path: path, busyTimeout: .seconds(20)))
                    try waiter.transaction { try waiter.run("INSERT INTO t VALUES (2)") }
                    outcome.value = "committed"
                } catch {
                    outcome.value = "\(error)"
                }
            }
            thread.start()
            #expect(started.wait(timeout: .now() + 20) == .success)
            // Gives the waiter time to reach the lock; the outcome must be the same if it has not.
            Thread.sleep(forTimeInterval: 0.3)
            try holder.execute("COMMIT")
            #expect(finished.wait(timeout: .now() + 30) == .success)
            #expect(outcome.value == "committed")
            #expect(try holder.query("SELECT x FROM t ORDER BY rowid") { $0.int(at: 0) } == [1, 2])
        }
    }
}
