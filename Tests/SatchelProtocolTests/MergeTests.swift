import Testing
@testable import SatchelProtocol

/// The merge rules of PROTOCOL.md, one row per rule. Each case starts from a note created by
/// device A (version 1), then applies the listed mutations in order.
struct MergeCase: CustomTestStringConvertible, Sendable {
    var name: String
    /// Builds the mutations after the create, given writers A and B.
    var steps: @Sendable (inout Writer, inout Writer) -> [Mutation]
    var statuses: [MutationStatus]
    var expected: [FieldName: Value]?
    var conflictKinds: [String] = []
    var testDescription: String { name }
}

let base: [FieldName: Value] = [
    "title": .string("Visit to Z-Park"),
    "body": .text("We met the park office. They showed the incubator. Lunch was at noon."),
    "tags": .set(["beijing", "ict"]),
]

let mergeCases: [MergeCase] = [
    MergeCase(
        name: "patch on the current version applies",
        steps: { a, _ in [a.patch(base: 1, ["title": .string("Z-Park visit")])] },
        statuses: [.applied],
        expected: base.merging(["title": .string("Z-Park visit")]) { $1 }),
    MergeCase(
        name: "concurrent edits to different fields both survive",
        steps: { a, b in [a.patch(base: 1, ["title": .string("T-A")]), b.patch(base: 1, ["tags": .set(["beijing", "ict", "ai"])])] },
        statuses: [.applied, .merged],
        expected: base.merging(["title": .string("T-A"), "tags": .set(["ai", "beijing", "ict"])]) { $1 }),
    MergeCase(
        name: "same scalar field: the later clock wins and the loser is kept",
        steps: { a, b in
            b.millis = a.millis + 1000
            return [b.patch(base: 1, ["title": .string("from B, later")]), a.patch(base: 1, ["title": .string("from A, earlier")])]
        },
        statuses: [.applied, .conflict],
        expected: base.merging(["title": .string("from B, later")]) { $1 },
        conflictKinds: ["field"]),
    MergeCase(
        name: "same scalar field arriving in the other order gives the same winner",
        steps: { a, b in
            b.millis = a.millis + 1000
            return [a.patch(base: 1, ["title": .string("from A, earlier")]), b.patch(base: 1, ["title": .string("from B, later")])]
        },
        statuses: [.applied, .conflict],
        expected: base.merging(["title": .string("from B, later")]) { $1 },
        conflictKinds: ["field"]),
    MergeCase(
        name: "bookkeeping field (updatedAt): later write wins without a conflict record",
        steps: { a, b in
            b.millis = a.millis + 1000
            return [b.patch(base: 1, ["updatedAt": .timestamp(2000)]), a.patch(base: 1, ["updatedAt": .timestamp(1000)])]
        },
        statuses: [.applied, .merged],
        expected: base.merging(["updatedAt": .timestamp(2000)]) { $1 }),
    MergeCase(
        name: "equal clocks: the greater device id wins",
        steps: { a, b in
            b.millis = a.millis
            return [b.patch(base: 1, ["title": .string("B")]), a.patch(base: 1, ["title": .string("A")])]
        },
        statuses: [.applied, .conflict],
        expected: base.merging(["title": .string("B")]) { $1 },
        conflictKinds: ["field"]),
    MergeCase(
        name: "both writing the same value is no conflict",
        steps: { a, b in [a.patch(base: 1, ["title": .string("same")]), b.patch(base: 1, ["title": .string("same")])] },
        statuses: [.applied, .merged],
        expected: base.merging(["title": .string("same")]) { $1 }),
    MergeCase(
        name: "text edits that do not overlap are all kept",
        steps: { a, b in [
            a.patch(base: 1, ["body": .text("We met the park office. They showed the new incubator. Lunch was at noon.")]),
            b.patch(base: 1, ["body": .text("We met the park office. They showed the incubator. Lunch was at one.")]),
        ] },
        statuses: [.applied, .merged],
        expected: base.merging(["body": .text("We met the park office. They showed the new incubator. Lunch was at one.")]) { $1 }),
    MergeCase(
        name: "overlapping text edits: later clock wins, other text kept in a conflict",
        steps: { a, b in
            b.millis = a.millis + 1000
            return [
                a.patch(base: 1, ["body": .text("We met the park office. They showed the big incubator. Lunch was at noon.")]),
                b.patch(base: 1, ["body": .text("We met the park office. They showed the small incubator. Lunch was at noon.")]),
            ]
        },
        statuses: [.applied, .conflict],
        expected: base.merging(["body": .text("We met the park office. They showed the small incubator. Lunch was at noon.")]) { $1 },
        conflictKinds: ["text"]),
    MergeCase(
        name: "tags: additions and removals of both sides combine",
        steps: { a, b in [a.patch(base: 1, ["tags": .set(["beijing", "ai"])]), b.patch(base: 1, ["tags": .set(["beijing", "ict", "5g"])])] },
        statuses: [.applied, .merged],
        expected: base.merging(["tags": .set(["5g", "ai", "beijing"])]) { $1 }),
    MergeCase(
        name: "a device's own offline edits do not conflict with each other",
        steps: { a, _ in [a.patch(base: 1, ["title": .string("one")]), a.patch(base: 1, ["title": .string("two")]), a.patch(base: 1, ["body": .text("short")])] },
        statuses: [.applied, .applied, .applied],
        expected: base.merging(["title": .string("two"), "body": .text("short")]) { $1 }),
    MergeCase(
        name: "edit against a concurrent delete revives the record (edit wins)",
        steps: { a, b in [b.delete(base: 1), a.patch(base: 1, ["title": .string("still needed")])] },
        statuses: [.applied, .conflict],
        expected: base.merging(["title": .string("still needed")]) { $1 },
        conflictKinds: ["edit_revived"]),
    MergeCase(
        name: "delete against a concurrent edit is refused and recorded (edit wins)",
        steps: { a, b in [a.patch(base: 1, ["title": .string("edited")]), b.delete(base: 1)] },
        statuses: [.applied, .conflict],
        expected: base.merging(["title": .string("edited")]) { $1 },
        conflictKinds: ["delete_refused"]),
    MergeCase(
        name: "delete after seeing every edit deletes",
        steps: { a, b in [a.patch(base: 1, ["title": .string("edited")]), b.delete(base: 2)] },
        statuses: [.applied, .applied],
        expected: nil),
    MergeCase(
        name: "deleting a deleted record changes nothing",
        steps: { a, b in [a.delete(base: 1), b.delete(base: 1)] },
        statuses: [.applied, .applied],
        expected: nil),
    MergeCase(
        name: "a patch of a record that does not exist is rejected",
        steps: { a, _ in [a.patch(base: 1, ["title": .string("x")], key: RecordKey(space: "mission", collection: .notes, record: "nope"))] },
        statuses: [.rejected],
        expected: base),
    MergeCase(
        name: "a base newer than the server's version is rejected",
        steps: { a, _ in [a.patch(base: 9, ["title": .string("x")])] },
        statuses: [.rejected],
        expected: base),
    MergeCase(
        name: "invalid values are rejected and later mutations still apply",
        steps: { a, _ in [a.patch(base: 1, ["title": .integer(3)]), a.patch(base: 1, ["nope": .string("x")]), a.patch(base: 1, ["title": .string("ok")])] },
        statuses: [.rejected, .rejected, .applied],
        expected: base.merging(["title": .string("ok")]) { $1 }),
    MergeCase(
        name: "devices cannot write briefing entries",
        steps: { a, _ in [a.create(["kind": .string("park"), "name": .string("X")], key: RecordKey(space: "briefing", collection: .entries, record: "x"))] },
        statuses: [.rejected],
        expected: base),
]

@Suite struct MergeRuleTests {
    @Test(arguments: mergeCases)
    func rule(_ c: MergeCase) {
        var log = ChangeLog()
        var a = Writer("device-a"), b = Writer("device-b")
        #expect(log.push(a.create(base)).status == .applied)
        let results = c.steps(&a, &b).map { log.push($0) }
        #expect(results.map(\.status) == c.statuses)
        #expect(log.values() == c.expected)
        let kinds = log.conflictRecords().compactMap { $0["kind"]?.textValue }
        #expect(kinds == c.conflictKinds)
    }

    @Test func conflictKeepsTheLosingValueAndWhoWroteIt() {
        var log = ChangeLog()
        var a = Writer("device-a"), b = Writer("device-b")
        log.push(a.create(base))
        b.millis = a.millis + 1000
        log.push(b.patch(base: 1, ["title": .string("B wins")]))
        let r = log.push(a.patch(base: 1, ["title": .string("A loses")]))
        #expect(r.status == .conflict)
        #expect(r.conflicts.count == 1)
        let conflict = log.conflictRecords()[0]
        #expect(conflict["kept"] == .string("A loses"))
        #expect(conflict["winner"] == .string("B wins"))
        #expect(conflict["keptDevice"] == .string("device-a"))
        #expect(conflict["field"] == .string("title"))
        #expect(conflict["record"] == .string("note-1"))
    }

    @Test func stalebaseIsAConflictNeverASilentOverwrite() {
        var log = ChangeLog()
        var a = Writer("device-a"), b = Writer("device-b")
        log.push(a.create(base))
        log.push(b.patch(base: 1, ["body": .text("B rewrote the body entirely.")]))
        log.forgetHistory(before: 2)
        // A edits on version 1, which is no longer kept: no three-way merge is possible.
        a.millis = b.millis + 1000
        let r = log.push(a.patch(base: 1, ["body": .text("We met the park office. They showed the incubator. Lunch was late.")]))
        #expect(r.status == .conflict)
        let conflict = log.conflictRecords()[0]
        #expect(conflict["kind"] == .string("stale_base"))
        #expect(conflict["kept"] == .text("B rewrote the body entirely."))
    }

    @Test func textDiffAgainstAnExpiredBaseIsRejected() throws {
        var log = ChangeLog()
        var a = Writer("device-a"), b = Writer("device-b")
        log.push(a.create(base))
        log.push(b.patch(base: 1, ["body": .text("B rewrote the body entirely, which is long enough to diff.")]))
        log.forgetHistory(before: 2)
        let old = base["body"]!.textValue!
        let diff = TextDiff(from: old, to: old + " More.")
        let r = log.push(a.next(.patch, base: 1, ["body": .textDiff(diff)]))
        #expect(r.status == .rejected)
        #expect(r.rejection?.code == .baseExpired)
    }

    @Test func textDiffIsAppliedAgainstTheBaseAndMerged() {
        var log = ChangeLog()
        var a = Writer("device-a"), b = Writer("device-b")
        log.push(a.create(base))
        let old = base["body"]!.textValue!
        log.push(b.patch(base: 1, ["body": .text(old.replacingOccurrences("noon", "one"))]))
        let diff = TextDiff(from: old, to: old.replacingOccurrences("park office", "park management office"))
        let r = log.push(a.next(.patch, base: 1, ["body": .textDiff(diff)]))
        #expect(r.status == .merged)
        #expect(log.values()?["body"] == .text("We met the park management office. They showed the incubator. Lunch was at one."))
    }

    @Test func diffAgainstTheWrongTextIsRejected() {
        var log = ChangeLog()
        var a = Writer("device-a")
        log.push(a.create(base))
        let diff = TextDiff(from: "some other text entirely", to: "some other text, changed")
        let r = log.push(a.next(.patch, base: 1, ["body": .textDiff(diff)]))
        #expect(r.rejection?.code == .diffBaseMismatch)
        #expect(log.values() == base)
    }

    @Test func resolvingAConflictIsAnOrdinaryChange() {
        var log = ChangeLog()
        var a = Writer("device-a"), b = Writer("device-b")
        log.push(a.create(base))
        b.millis = a.millis + 1000
        log.push(b.patch(base: 1, ["title": .string("B")]))
        let r = log.push(a.patch(base: 1, ["title": .string("A")]))
        let conflictKey = RecordKey(space: "mission", collection: .conflicts, record: r.conflicts[0])
        // A sees both versions, writes the merged title and deletes the conflict record.
        let head = log.head
        #expect(log.push(a.patch(base: log.records[Writer.key]!.version, ["title": .string("A and B")])).status == .applied)
        #expect(log.push(a.delete(base: head, key: conflictKey)).status == .applied)
        #expect(log.values()?["title"] == .string("A and B"))
        #expect(log.conflictRecords().isEmpty)
    }

    @Test func devicesCannotCreateConflictRecords() {
        var log = ChangeLog()
        var a = Writer("device-a")
        let key = RecordKey(space: "mission", collection: .conflicts, record: "fake")
        let r = log.push(a.create(["kind": .string("field"), "collection": .string("notes"), "record": .string("x"), "mutation": .string("m")], key: key))
        #expect(r.rejection?.code == .readOnlyCollection)
    }

    @Test func repeatedMutationIsAppliedOnceAndAnsweredTheSame() {
        var log = ChangeLog()
        var a = Writer("device-a")
        let create = a.create(base)
        let first = log.push(create)
        let head = log.head
        let again = log.push(create)
        #expect(first == again)
        #expect(log.head == head)
    }
}

extension String {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        var result = ""
        var rest = self[...]
        while let r = rest.firstRange(of: target) {
            result += rest[..<r.lowerBound] + replacement
            rest = rest[r.upperBound...]
        }
        return result + rest
    }
}
