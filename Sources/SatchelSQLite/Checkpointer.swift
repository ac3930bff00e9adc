import Foundation

/// Copies a WAL database's committed pages back into its file on a connection and thread of its
/// own, so that the writer's commits rarely do it themselves.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses 1,000 pages of log: that
/// commit, and every write queued behind it, waits while pages are copied and the file is
/// synced. Here the writer only reports the log's size; past `threshold` pages a passive
/// checkpoint runs beside it (it never blocks the writer or readers). The log starts again from
/// its beginning only when a checkpoint has copied all of it before the next write, which under
/// steady writes a checkpoint running beside them never does: past four times `threshold` the
/// writer checkpoints itself, which then costs little (the pages were mostly copied already),
/// so the log stays bounded.
///
/// ```swift
/// let checkpointer = try Checkpointer(path: path)
/// checkpointer.attach(to: writer)
/// …
/// checkpointer.close()
/// ```
public final class Checkpointer: @unchecked Sendable {
    // @unchecked: `db` is used only on `queue`; `running` and `completed` only under `lock`.
    private let queue = DispatchQueue(label: "satchel.sqlite.checkpoint")
    private let lock = NSLock()
    private var db: Database?
    private var running = false
    private var completed = 0
    private let threshold: Int32

    /// A checkpointer for the WAL database at `path`, which must exist.
    public init(path: String, threshold: Int32 = 1000) throws {
        db = try Database(configuration: DatabaseConfiguration(path: path))
        self.threshold = threshold
    }

    /// Takes over checkpoints from `writer`'s automatic ones.
    public func attach(to writer: Database) {
        // Without a checkpointer, as SQLite would on its own.
        writer.onWALCommit { [weak self] pages in self?.logGrew(to: pages) ?? (pages >= 1000) }
    }

    /// How many checkpoints have run (for tests).
    public var checkpoints: Int { lock.withLock { completed } }

    /// Whether the writer should checkpoint now, itself.
    private func logGrew(to pages: Int32) -> Bool {
        if pages >= threshold * 4 { return true }
        guard pages >= threshold else { return false }
        let start = lock.withLock {
            if running { return false }
            running = true
            return true
        }
        guard start else { return false }
        queue.async { [self] in
            // A failure (busy, closed) only leaves the log longer until the next one.
            _ = try? db?.query("PRAGMA wal_checkpoint(PASSIVE)") { _ in () }
            lock.withLock {
                running = false
                completed += 1
            }
        }
        return false
    }

    /// Waits for a running checkpoint and closes the connection.
    public func close() {
        queue.sync {
            db?.close()
            db = nil
        }
    }
}
