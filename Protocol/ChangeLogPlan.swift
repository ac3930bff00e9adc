/// The change log as plan and apply, for backends that cannot answer the algorithm's questions
/// one at a time (an asynchronous database must not be waited on inside a synchronous call).
/// The backend reads what a batch of mutations needs (`LogReadRequest`), the plan runs the
/// shared algorithm (`ChangeLogStorage.applyMutation`) over those answers in memory, and the
/// backend writes what it returns (`LogWriteSet`) in the same transaction. The plan is pure:
/// the same reads give the same results and writes.
///
/// One algorithm: the plan runs it over an overlay (`LogOverlay`) that answers from the read set
/// and from the batch's own earlier writes, so two mutations of one record in a push, or one
/// mutation id sent twice, come out as they would one at a time.
public enum ChangeLogPlan: Hashable, Sendable {
    /// Every read was there: the results, in the order the mutations came, and what to write.
    case ready(results: [MutationResult], writes: LogWriteSet)
    /// The algorithm asked for something not read (the record under a conflict id, say): read
    /// it too, in the same transaction, add it to the read set and plan again.
    case needs(LogReadRequest)

    /// Plans `mutations` as one push of a device (or an operator's write), over `reads`.
    public static func plan(_ mutations: [Mutation], asOperator: Bool, reads: LogReadSet, schema: Schema) -> ChangeLogPlan {
        var overlay = LogOverlay(schema: schema, reads: reads)
        // The overlay never throws (what it lacks it notes and answers with a guess, so one pass
        // finds most of what is missing), and rejections are results: nothing can fail here.
        let results = mutations.map { try! asOperator ? overlay.applyOperatorWrite($0) : overlay.applyMutation($0) }
        guard overlay.missing.isEmpty else { return .needs(overlay.missing) }
        return .ready(results: results, writes: overlay.writes)
    }

    /// Plans `mutations`, reading with `read` until the plan has all it needs. Each round reads
    /// only what earlier rounds did not, so it ends: at most a round per conflict a mutation of
    /// the batch produces, in practice two.
    public static func run(
        _ mutations: [Mutation], asOperator: Bool, schema: Schema, read: (LogReadRequest) throws -> LogReadSet
    ) rethrows -> (results: [MutationResult], writes: LogWriteSet) {
        var reads = try read(LogReadRequest(mutations, asOperator: asOperator))
        while true {
            switch plan(mutations, asOperator: asOperator, reads: reads, schema: schema) {
            case .ready(let results, let writes):
                return (results, writes)
            case .needs(let more):
                reads.formUnion(try read(more))
            }
        }
    }
}
