import Dispatch

/// A serial executor on a dispatch queue of its own, for an actor whose work blocks: SQLite
/// statements, commits that wait for fsync, busy waits on another connection's lock. Run on
/// Swift's cooperative pool (one thread per core) that work would stall every other task; on
/// this queue it blocks a dispatch thread instead. GRDB's `DispatchQueueActor` does the same.
///
/// ```swift
/// actor Writer {
///     nonisolated let executor = DispatchQueueExecutor(label: "writer")
///     nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
/// }
/// ```
public final class DispatchQueueExecutor: SerialExecutor {
    private let queue: DispatchQueue

    public init(label: String) {
        queue = DispatchQueue(label: label, qos: .userInitiated)
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedSerialExecutor()) }
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }
}

/// Runs blocking work (a backup's `VACUUM INTO`, a file copy) on a dispatch thread, off Swift's
/// cooperative pool, and returns its result.
public func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global(qos: .userInitiated).async { continuation.resume(with: Result { try body() }) }
    }
}
