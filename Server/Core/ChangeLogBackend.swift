public import SatchelProtocol

/// A server backend's side of the change log as plan and apply (`ChangeLogPlan`): it answers
/// read sets and writes write sets; the shared algorithm decides. `apply` runs one push.
///
/// Contract, for one push, all inside one transaction of the backend:
/// - **The version lock.** Versions are allocated from `head`. The read of the head takes the
///   lock that hands versions out (SQLite: the write lock `BEGIN IMMEDIATE` takes; PostgreSQL:
///   the row lock `SELECT … FROM log_head FOR UPDATE` takes) and holds it from
///   that read until the commit, so no other writer allocates the same versions and versions
///   become visible in version order (`ChangeLogStore`: once a reader sees version v it sees
///   every version below v). Group commit holds it across every push of a batch.
/// - **Reads under the lock.** Every read of a push (results, counters, records, bases; the
///   second round's too) is made in the transaction, after the head, so what it returns stays
///   current until the commit: every writer of the change log holds the same lock. A read sees
///   the transaction's own earlier writes (an earlier push of the same batch).
/// - **Writes all or none.** `write` writes the whole write set or throws; a push whose write
///   (or read) threw is rolled back alone (a savepoint) and its head read again.
/// - **Answered after the commit.** Nothing written is visible or reported before the commit
///   makes it durable.
///
/// The SQLite backend is synchronous: no `await` may sit inside its transaction, since an actor
/// re-entered mid-transaction would interleave statements on its one connection. An
/// asynchronous backend (`PostgresChangeLog`, which answers each kind of question of a read set
/// with one statement) drives the same pure plan, awaiting only between its steps:
///
///     try await database.transaction { tx in                          // BEGIN
///         var reads = try await tx.read(LogReadRequest(mutations, asOperator: false)) // locks head
///         while true {
///             switch ChangeLogPlan.plan(mutations, asOperator: false, reads: reads, schema: schema) {
///             case .needs(let more):                                   // a conflict's record, say
///                 reads.formUnion(try await tx.read(more))
///             case .ready(let results, let writes):
///                 try await tx.write(writes)
///                 return results                                       // COMMIT, then answer
///             }
///         }
///     }
public protocol ChangeLogBackend {
    var schema: Schema { get }
    /// Answers `request` as the transaction sees storage now.
    func read(_ request: LogReadRequest) throws -> LogReadSet
    /// Writes everything in `writes`, or throws.
    mutating func write(_ writes: LogWriteSet) throws
}

extension ChangeLogBackend {
    /// Applies one push (or an operator's write): reads, plans until nothing is missing, writes.
    /// The caller holds the transaction (see the contract above).
    public mutating func apply(_ mutations: [Mutation], asOperator: Bool) throws -> [MutationResult] {
        let planned = try ChangeLogPlan.run(mutations, asOperator: asOperator, schema: schema) { try read($0) }
        try write(planned.writes)
        return planned.results
    }
}

extension ChangeLogBackend where Self: ChangeLogReading {
    /// One question at a time: right where each costs little (in memory, or SQLite's cached
    /// prepared statements on one connection).
    public func read(_ request: LogReadRequest) throws -> LogReadSet {
        try LogReadSet(answering: request, from: self)
    }
}
