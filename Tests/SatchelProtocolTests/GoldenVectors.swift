@testable import SatchelProtocol

/// The messages behind the files in `Protocol/Vectors/`. Another implementation decodes each
/// file, compares with the description in `Protocol/Vectors/README.md`, and re-encodes it byte for byte.
enum GoldenVectors {
    static let key = RecordKey(space: "mission-cn-2026", collection: .notes, record: "01hq3v9k2m8x7c4n5p6r7s8t9v")
    static let clock = HLC(millis: 1_796_000_000_000, counter: 3)
    static let body = "Met the Z-Park office. They showed the incubator and the AI lab. Lunch with CDHT at noon."

    static let create = Mutation(
        id: "01hq3va0000000000000000001", device: "dev-ana-laptop", counter: 41, clock: clock, key: key,
        baseVersion: 0, operation: .create,
        changes: [
            "title": .set(.string("Z-Park visit")),
            "body": .set(.text(body)),
            "tags": .set(.set(["beijing", "ict"])),
            "links": .set(.references([Reference(collection: .entries, record: "park-zhongguancun")])),
            "createdAt": .set(.timestamp(1_796_000_000_000)),
        ])

    static let patch = Mutation(
        id: "01hq3va0000000000000000002", device: "dev-ana-laptop", counter: 42, clock: HLC(millis: 1_796_000_060_000, counter: 0),
        key: key, baseVersion: 1207, operation: .patch,
        changes: [
            "body": .textDiff(TextDiff(from: body, to: body.replacingOccurrences("at noon", "at one"))),
            "tags": .setDelta(add: .set(["ai"]), remove: .set(["ict"])),
        ])

    static let delete = Mutation(
        id: "01hq3va0000000000000000003", device: "dev-ana-laptop", counter: 43, clock: HLC(millis: 1_796_000_120_000, counter: 0),
        key: key, baseVersion: 1208, operation: .delete)

    /// Every value type, in a create (the wire layer does not apply the schema).
    static let allValues = Mutation(
        id: "01hq3va0000000000000000004", device: "dev-b", counter: 1, clock: clock,
        key: RecordKey(space: "s", collection: "samples", record: "r"), baseVersion: 0, operation: .create,
        changes: [
            "a": .set(.null), "b": .set(.string("ü€𝄞")), "c": .set(.text("line 1\nline 2")),
            "d": .set(.integer(-300)), "e": .set(.number(2.5)), "f": .set(.boolean(true)),
            "g": .set(.timestamp(-1)), "h": .set(.set(["x", "y"])),
            "i": .set(.reference(Reference(collection: .entries, record: "e1"))),
            "j": .set(.references([Reference(collection: .entries, record: "e1"), Reference(collection: .entries, record: "e2")])),
        ])

    static let pullResponse = PullResponse(
        space: "mission-cn-2026",
        changes: [
            Change(version: 1207, previousVersion: 0, key: key, kind: .upsert, fields: create.changes, clock: clock, mutation: create.id),
            Change(version: 1208, previousVersion: 1207, key: key, kind: .upsert,
                   fields: ["tags": .set(.set(["ai", "beijing"]))], clock: patch.clock, mutation: patch.id),
            Change(version: 1209, previousVersion: 1208, key: key, kind: .delete, fields: [:], clock: delete.clock, mutation: nil),
        ],
        cursor: 1209, hasMore: true, head: 1500)

    static let messages: [(name: String, message: Message, compression: Frame.Compression)] = [
        ("hello-request", .helloRequest(HelloRequest(client: "satchel-cli/0.1.0")), .none),
        ("hello-response", .helloResponse(HelloResponse(
            server: "satchel-server/0.1.0", device: "dev-ana-laptop", user: "ana", limits: .default,
            serverTime: 1_796_000_000_500,
            spaces: [SpaceAccess(space: "briefing", role: .reader, head: 812, horizon: 0),
                     SpaceAccess(space: "mission-cn-2026", role: .writer, head: 1500, horizon: 1000)])), .none),
        ("hello-response-device-state", .helloResponse(HelloResponse(
            server: "satchel-server/0.1.0", device: "dev-ana-laptop", user: "ana", limits: .default,
            serverTime: 1_796_000_000_500, spaces: [SpaceAccess(space: "mission-cn-2026", role: .writer, head: 1500, horizon: 1000)],
            deviceState: DeviceWriteState(counter: 43, clock: HLC(millis: 1_796_000_120_000, counter: 0), mutation: "01hq3va0000000000000000003"))), .none),
        ("push-request", .pushRequest(PushRequest(mutations: [create, patch, delete])), .none),
        ("push-request-all-values", .pushRequest(PushRequest(mutations: [allValues])), .none),
        ("push-response", .pushResponse(PushResponse(results: [
            MutationResult(mutation: create.id, status: .applied, version: 1207),
            MutationResult(mutation: patch.id, status: .merged, version: 1208),
            MutationResult(mutation: delete.id, status: .conflict, version: 1208, conflicts: ["01hq3va0000000000000000003.c0"]),
            MutationResult(mutation: "01hq3va0000000000000000005", status: .rejected, version: 0,
                           rejection: Rejection(.unknownField, "collection 'notes' has no field 'colour'")),
        ], clock: HLC(millis: 1_796_000_000_600, counter: 0))), .none),
        // The optional tails (§5, §6): a push asking for the as-written flags and its answer.
        ("push-request-as-written", .pushRequest(PushRequest(mutations: [delete], reportAsWritten: true)), .none),
        ("push-response-as-written", .pushResponse(PushResponse(results: [
            MutationResult(mutation: create.id, status: .applied, version: 1207, asWritten: true),
            MutationResult(mutation: patch.id, status: .merged, version: 1208),
            MutationResult(mutation: delete.id, status: .applied, version: 1209, asWritten: true),
        ], clock: HLC(millis: 1_796_000_000_600, counter: 0), reportsAsWritten: true)), .none),
        ("pull-request", .pullRequest(PullRequest(space: "mission-cn-2026", after: 1206, limit: 500)), .none),
        // A bootstrap page of a space whose horizon is 1000: `bootstrap` is 1001 on the wire.
        ("pull-request-bootstrap", .pullRequest(PullRequest(space: "mission-cn-2026", after: 0, limit: 500, bootstrap: 1000)), .none),
        // A log pull leaving out the device's as-written changes: `bootstrap` 0, then the flags.
        ("pull-request-omit-own", .pullRequest(PullRequest(space: "mission-cn-2026", after: 1206, limit: 500, omitOwnAsWritten: true)), .none),
        ("pull-response", .pullResponse(pullResponse), .none),
        ("pull-response-compressed", .pullResponse(pullResponse), .default),
        ("live-advanced", .live(.advanced(space: "mission-cn-2026", head: 1501)), .none),
        ("live-heartbeat", .live(.heartbeat(serverTime: 1_796_000_010_000)), .none),
        ("live-revoked", .live(.revoked(message: "device 'ana-laptop' was revoked on 2026-11-02; ask your operator to enroll it again")), .none),
        ("error", .error(ErrorResponse(code: "token_revoked", message: "this device's token was revoked; ask your operator to enroll it again")), .none),
    ]
}
