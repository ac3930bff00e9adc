import Testing
@testable import SatchelProtocol

/// Plans `batch` over what `log` holds, reading from it until nothing is missing, then runs the
/// batch on `log` itself (the reference model) and checks the plan agrees: the same results,
/// and writes that take storage where the reference went. Returns the plan and its read rounds.
@discardableResult
func expectPlanMatchesReference(
    _ log: inout ChangeLog, _ batch: [Mutation], asOperator: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
) throws -> (results: [MutationResult], writes: LogWriteSet, rounds: Int) {
    var rounds = 0
    let planned = try ChangeLogPlan.run(batch, asOperator: asOperator, schema: log.schema) { [log] request in
        rounds += 1
        return try LogReadSet(answering: request, from: log)
    }
    let before = log
    let expected = try batch.map { asOperator ? try log.applyOperatorWrite($0) : try log.applyMutation($0) }
    let writes = planned.writes
    #expect(planned.results == expected, sourceLocation: sourceLocation)
    #expect(writes.head == log.head, sourceLocation: sourceLocation)
    #expect(writes.changes.map(\.change) == Array(log.changes[before.changes.count...]), sourceLocation: sourceLocation)
    // Each record once, in the state the reference left it.
    #expect(writes.records.count == Set(writes.records.map(\.key)).count, sourceLocation: sourceLocation)
    #expect(writes.records.filter { log.records[$0.key] != $0.state }.isEmpty, sourceLocation: sourceLocation)
    #expect(Set(writes.records.map(\.key)) == Set(writes.changes.map(\.change.key)), sourceLocation: sourceLocation)
    // Every state replaced kept as a base, as the reference keeps it.
    #expect(writes.history.map(\.state.version) == writes.changes.map(\.change.previousVersion).filter { $0 > 0 }, sourceLocation: sourceLocation)
    #expect(writes.history.filter { log.base(of: $0.key, at: $0.state.version) != $0.state }.isEmpty, sourceLocation: sourceLocation)
    // A result saved for each id new to the log, counted when a device's write was not refused;
    // none for a write refused as another's id or another machine's counter.
    var fresh: [MutationID] = []
    for (m, r) in zip(batch, expected) where before.result(of: m.id) == nil && !fresh.contains(m.id) {
        if r.rejection?.code != .mutationIDTaken && r.rejection?.code != .deviceCopied { fresh.append(m.id) }
    }
    #expect(writes.results.map(\.mutation.id) == fresh, sourceLocation: sourceLocation)
    for saved in writes.results {
        #expect(log.result(of: saved.mutation.id)?.result == saved.result, sourceLocation: sourceLocation)
        #expect(saved.counted == (!asOperator && saved.result.status != .rejected), sourceLocation: sourceLocation)
    }
    // The changes left out of each device's pulls are those the plan marks as its own.
    for device in Set(batch.map(\.device)) {
        for space in Set(batch.map(\.key.space)) {
            let all = log.pull(space: space, after: before.head, limit: .max).changes.map(\.version)
            let kept = log.pull(space: space, after: before.head, limit: .max, omitting: device).changes.map(\.version)
            let own = writes.changes.filter { $0.asWrittenBy == device && $0.change.key.space == space }.map(\.change.version)
            #expect(Set(all).subtracting(kept) == Set(own), sourceLocation: sourceLocation)
        }
    }
    return (planned.results, writes, rounds)
}

@Suite struct ChangeLogPlanTests {
    let note2 = RecordKey(space: "mission", collection: .notes, record: "note-2")

    @Test func aBatchTouchingOneRecordTwiceSeesItsOwnWrites() throws {
        var log = ChangeLog()
        var a = Writer("device-a"), b = Writer("device-b")
        log.push(a.create(base))
        b.millis = a.millis + 1000
        // A new record created and edited in one push; note-1 edited twice on version 1, so the
        // second edit merges against the first, three-way over the base read from storage.
        let batch = [
            a.create(["title": .string("new")], key: note2),
            a.patch(base: 2, ["title": .string("newer")], key: note2),
            b.patch(base: 1, ["title": .string("B")]),
            b.patch(base: 1, ["tags": .set(["beijing"])]),
        ]
        let planned = try expectPlanMatchesReference(&log, batch)
        #expect(planned.results.map(\.status) == [.applied, .applied, .applied, .applied])
        #expect(planned.rounds == 1)
        #expect(planned.writes.records.map(\.key) == [note2, Writer.key])
        #expect(log.values()?["title"] == .string("B"))
    }

    @Test func aMutationIDRepeatedInOneBatchIsAppliedOnce() throws {
        var log = ChangeLog()
        var a = Writer("device-a")
        let create = a.create(base)
        let planned = try expectPlanMatchesReference(&log, [create, create, a.patch(base: 1, ["title": .string("T")])])
        #expect(planned.results[0] == planned.results[1])
        #expect(planned.writes.changes.count == 2)
        #expect(planned.writes.results.count == 2)
    }

    @Test func aMutationIDRepeatedAcrossBatchesGetsItsFirstAnswer() throws {
        var log = ChangeLog()
        var a = Writer("device-a"), b = Writer("device-b")
        let create = a.create(base)
        let first = try expectPlanMatchesReference(&log, [create])
        var stolen = b.patch(base: 1, ["title": .string("B")])
        stolen.id = create.id
        let again = try expectPlanMatchesReference(&log, [create, stolen])
        #expect(again.results[0] == first.results[0])
        #expect(again.results[1].rejection?.code == .mutationIDTaken)
        #expect(again.writes == LogWriteSet(head: log.head))
    }

    /// A log where B's later title beats A's edit on version 1: A's edit of the title and the
    /// tags applies the tags and makes a conflict record of the title.
    func losingEdit() -> (log: ChangeLog, losing: Mutation, conflictKey: RecordKey) {
        var log = ChangeLog()
        var a = Writer("device-a"), b = Writer("device-b")
        log.push(a.create(base))
        b.millis = a.millis + 1000
        log.push(b.patch(base: 1, ["title": .string("B wins")]))
        let losing = a.patch(base: 1, ["title": .string("A loses"), "tags": .set(["beijing"])])
        return (log, losing, RecordKey(space: "mission", collection: .conflicts, record: Conflict.recordID(for: losing.id, index: 0)))
    }

    @Test func aConflictReadsItsConflictRecordInASecondRound() throws {
        var (log, losing, conflictKey) = losingEdit()

        var reads = try LogReadSet(answering: LogReadRequest([losing], asOperator: false), from: log)
        var missing = LogReadRequest()
        missing.records = [conflictKey]
        #expect(ChangeLogPlan.plan([losing], asOperator: false, reads: reads, schema: log.schema) == .needs(missing))
        reads.formUnion(try LogReadSet(answering: missing, from: log))
        guard case .ready(let results, let writes) = ChangeLogPlan.plan([losing], asOperator: false, reads: reads, schema: log.schema) else {
            Issue.record("the plan still misses reads")
            return
        }
        #expect(results.map(\.status) == [.conflict])
        #expect(writes.records.map(\.key) == [Writer.key, conflictKey])

        let planned = try expectPlanMatchesReference(&log, [losing])
        #expect(planned.rounds == 2)
        #expect(log.conflictRecords().count == 1)
    }

    @Test func aConflictReplacesARecordAlreadyUnderItsID() throws {
        var (log, losing, conflictKey) = losingEdit()
        var op = Writer("operator")
        // Only an operator can write there; the conflict then replaces it, keeping it as history.
        let squatter = op.create(["kind": .string("field"), "collection": .string("notes"), "record": .string("x"), "mutation": .string("m")], key: conflictKey)
        try expectPlanMatchesReference(&log, [squatter], asOperator: true)
        let planned = try expectPlanMatchesReference(&log, [losing])
        #expect(planned.rounds == 2)
        #expect(planned.writes.history.map(\.key) == [Writer.key, conflictKey])
    }

    @Test func missingReadsAreReportedThenSatisfied() throws {
        var log = ChangeLog()
        var a = Writer("device-a")
        log.push(a.create(base))
        let batch = [a.patch(base: 1, ["title": .string("T")]), a.create(["title": .string("new")], key: note2)]
        // Nothing read: the plan asks for all the batch needs, in one pass.
        #expect(ChangeLogPlan.plan(batch, asOperator: false, reads: LogReadSet(), schema: log.schema) == .needs(LogReadRequest(batch, asOperator: false)))
        let reads = try LogReadSet(answering: LogReadRequest(batch, asOperator: false), from: log)
        guard case .ready(let results, _) = ChangeLogPlan.plan(batch, asOperator: false, reads: reads, schema: log.schema) else {
            Issue.record("the plan still misses reads")
            return
        }
        #expect(results.map(\.status) == [.applied, .applied])
        try expectPlanMatchesReference(&log, batch)
    }

    @Test func aRejectedWriteLeavesItsCounterFree() throws {
        var log = ChangeLog()
        var a = Writer("device-a")
        log.push(a.create(base))
        let refused = a.next(.patch, base: 1, ["body": .textDiff(TextDiff(from: "some other text entirely", to: "some other text, changed"))])
        // The write sent again under a new id with the same counter, then a third id under it.
        var retried = a.patch(base: 1, ["title": .string("T")])
        retried.counter = refused.counter
        var copied = a.patch(base: 1, ["title": .string("U")])
        copied.counter = refused.counter
        let planned = try expectPlanMatchesReference(&log, [refused, retried, copied])
        #expect(planned.results.map(\.rejection?.code) == [.diffBaseMismatch, nil, .deviceCopied])
        #expect(planned.writes.results.map(\.counted) == [false, true])
        #expect(log.mutation(counter: refused.counter, of: "device-a") == retried.id)
    }

    @Test func operatorWritesReadNoCounters() throws {
        var log = ChangeLog()
        var op = Writer("operator")
        let batch = [op.create(base), op.patch(base: 1, ["title": .string("T")])]
        #expect(LogReadRequest(batch, asOperator: true).counters.isEmpty)
        let planned = try expectPlanMatchesReference(&log, batch, asOperator: true)
        #expect(planned.writes.results.map(\.counted) == [false, false])
    }
}
