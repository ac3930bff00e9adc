import Logging
import PostgresNIO
import SatchelProtocol
import SatchelServerCore

/// Group commit on PostgreSQL, as `SQLiteServerStore` does it: a push waits in a queue, and one
/// transaction (one commit, one WAL flush) applies every push queued by the time it starts,
/// each in a savepoint of its own so a storage error fails that push alone. No push is answered
/// before the transaction holding it has committed.
///
/// Pushes of one server queue here; pushes of different servers meet at `log_head`'s row lock,
/// which each transaction holds from its first read to its commit.
actor PostgresWriter {
    private let client: PostgresClient
    private let schema: Schema
    private let clock: @Sendable () -> Timestamp
    private let logger: Logger
    private var queue: [QueuedWrite] = []
    private var draining = false

    init(client: PostgresClient, schema: Schema, clock: @escaping @Sendable () -> Timestamp, logger: Logger) {
        self.client = client
        self.schema = schema
        self.clock = clock
        self.logger = logger
    }

    func write(_ mutations: [Mutation], asOperator: Bool) async throws -> [MutationResult] {
        try await withCheckedThrowingContinuation { reply in
            queue.append(QueuedWrite(mutations: mutations, asOperator: asOperator, reply: reply))
            if !draining {
                draining = true
                Task { await self.drain() }
            }
        }
    }

    /// Commits batches until the queue is empty; pushes arriving meanwhile join the next batch.
    private func drain() async {
        while !queue.isEmpty {
            let batch = QueuedWrite.nextCommit(from: &queue, budget: Self.mutationsPerCommit)
            do {
                let outcomes = try await commit(batch)
                for (queued, outcome) in zip(batch, outcomes) { queued.reply.resume(with: outcome) }
            } catch {
                for queued in batch { queued.reply.resume(throwing: error) }
            }
        }
        draining = false
    }

    /// About as much work as SQLite's batches: enough to share a commit, little enough that
    /// pushes queued behind one are answered in turn.
    static let mutationsPerCommit = 1_000

    private func commit(_ batch: [QueuedWrite]) async throws -> [Result<[MutationResult], any Error>] {
        let (schema, clock, logger) = (schema, clock, logger)
        return try await client.withConnection { connection in
            try await PostgresTransaction.run(connection, logger: logger) { tx in
                let now = clock()
                var log = try await PostgresChangeLog.lockHead(tx, schema: schema, now: now, logger: logger)
                let before = log.head
                var outcomes: [Result<[MutationResult], any Error>] = []
                for queued in batch {
                    var attempt = log
                    do {
                        let results = try await PostgresTransaction.savepoint(tx, logger: logger) {
                            try await attempt.apply(queued.mutations, asOperator: queued.asOperator)
                        }
                        log = attempt
                        outcomes.append(.success(results))
                    } catch {
                        // Rolled back to the savepoint: `log` still holds the head before it.
                        outcomes.append(.failure(error))
                    }
                }
                // Wakes every server's feed once this commits (NOTIFY is delivered at commit).
                if log.head != before { try await PostgresFeedTail.notify(tx, logger: logger) }
                return outcomes
            }
        }
    }
}
