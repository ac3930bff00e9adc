import Foundation
@testable import SatchelClient
import SatchelProtocol
import SatchelTestSupport
import Testing

/// Four ordinary situations that once lost acknowledged writes, each against the real
/// `satchel-server`: every write a device was told is applied must reach its other devices.
@Suite(.serialized) struct AcknowledgedMeansKeptTests {
    /// Ana's notes as another of her devices receives them, by title.
    static func titles(_ client: SatchelClient) async throws -> Set<String> {
        Set(try await client.notes().compactMap { $0.values["title"]?.textValue })
    }

    @Test func aCoMemberPushingSeenOrGuessedIdsNeverTakesTheirPlace() async throws {
        let world = try await ServerWorld(roles: ServerWorld.missionAndBriefing)
        defer { world.server.terminate() }
        try await ServerProcess.run(["space", "create", "ana-private", "--data", world.data])
        try await ServerProcess.run(["member", "add", "--space", "ana-private", "--user", "ana", "--role", "writer", "--data", world.data])
        let ana = try await world.device("ana", "ana-laptop")
        let anaPhone = try await world.device("ana", "ana-phone")
        let seen = try await ana.createNote(space: "mission", title: "Seen by bob")
        try await ana.sync()

        // Bob, a co-member, reads Ana's mutation ids from the log and pushes notes of his own
        // under them, and under the ids a counter scheme would give her next writes.
        let bob = try await HTTPTransport.enroll(
            url: world.server.url, code: try await world.enrollmentCode(for: "bob"), label: "bob-tool", client: "probe/1")
        let raw = try HTTPTransport(url: world.server.url, token: bob.token)
        let log = try await raw.pull(PullRequest(space: "mission", after: 0, limit: 100))
        let anaIDs = log.changes.compactMap(\.mutation)
        #expect(!anaIDs.isEmpty)
        let anaDevice = try #require(await ana.status().device)
        let guessed = anaIDs + (1...399).map { MutationID(unchecked: "\(anaDevice.rawValue.suffix(20))-\($0)") }
        var rng = SystemRandomNumberGenerator()
        let forged = guessed.enumerated().map { i, id in
            Mutation(id: id, device: bob.device, counter: UInt64(i + 1), clock: HLC(millis: SatchelClient.wallClock(), counter: 0),
                     key: RecordKey(space: "mission", collection: .notes, record: .random(using: &rng)), baseVersion: 0, operation: .create,
                     changes: ["title": .set(.string("bob's \(i)"))])
        }
        let answer = try await raw.push(PushRequest(mutations: forged))
        // Ana's ids are hers: refused with their own code, and what she was told is unchanged.
        for result in answer.results.prefix(anaIDs.count) {
            #expect(result.status == .rejected && result.rejection?.code == .mutationIDTaken, "\(result)")
        }
        try await ana.sync()

        // Ana's next six writes (three in a space Bob cannot see) are all stored.
        for i in 0..<3 {
            _ = try await ana.createNote(space: "mission", title: "Mission \(i)")
            _ = try await ana.createNote(space: "ana-private", title: "Private \(i)")
        }
        try await ana.updateNote(seen, title: "Seen by bob, edited")
        let report = try await ana.sync()
        #expect(report.pushed.applied == 7 && report.pushed.rejected == 0)
        try await anaPhone.sync()
        let expected = Set(["Seen by bob, edited"] + (0..<3).flatMap { ["Mission \($0)", "Private \($0)"] })
        #expect(try await Self.titles(anaPhone).filter { !$0.hasPrefix("bob's") } == expected)
    }

    @Test func aHomeRestoredFromACopyKeepsEveryWriteAndGetsBackItsLaterOnes() async throws {
        let world = try await ServerWorld(roles: ServerWorld.missionAndBriefing)
        defer { world.server.terminate() }
        let home = world.dir.file("device-ana-laptop"), backup = world.dir.file("backup")
        var ana = try await world.device("ana", "ana-laptop")
        let bob = try await world.device("bob", "bob-phone")
        let first = try await ana.createNote(space: "mission", title: "Before the backup")
        try await ana.sync()
        _ = try await ana.createNote(space: "mission", title: "Queued at the backup")
        await ana.close()
        try FileManager.default.copyItem(atPath: home, toPath: backup)

        // After the backup: three more writes, all acknowledged as written (so left out of pulls).
        ana = try SatchelClient(directory: home)
        _ = try await ana.createNote(space: "mission", title: "After the backup 1")
        _ = try await ana.createNote(space: "mission", title: "After the backup 2")
        try await ana.updateNote(first, body: "edited after the backup")
        #expect(try await ana.sync().pushed.applied == 4)
        await ana.close()

        // The laptop's disk is restored from the backup; Ana writes on.
        try FileManager.default.removeItem(atPath: home)
        try FileManager.default.copyItem(atPath: backup, toPath: home)
        ana = try SatchelClient(directory: home)
        _ = try await ana.createNote(space: "mission", title: "After the restore")
        let report = try await ana.sync()
        #expect(report.restored)
        #expect(report.pushed.rejected == 0)
        try await ana.sync()
        try await bob.sync()
        let all: Set = ["Before the backup", "Queued at the backup", "After the backup 1", "After the backup 2", "After the restore"]
        #expect(try await Self.titles(bob) == all)
        // The restored device holds everything the server holds, its later writes included.
        #expect(try await Self.titles(ana) == all)
        #expect(try await ana.record(first)?.view?["body"] == .text("edited after the backup"))
        #expect(try await ana.status().pending == 0)
    }

    @Test func twoMachinesSharingOneDeviceIdentityAreToldToJoinSeparately() async throws {
        let world = try await ServerWorld(roles: ServerWorld.missionAndBriefing)
        defer { world.server.terminate() }
        let home = world.dir.file("device-ana-laptop"), copy = world.dir.file("ana-second-laptop")
        var laptop = try await world.device("ana", "ana-laptop")
        try await laptop.sync()
        await laptop.close()
        try FileManager.default.copyItem(atPath: home, toPath: copy)
        laptop = try SatchelClient(directory: home)
        let second = try SatchelClient(directory: copy)
        _ = try await laptop.createNote(space: "mission", title: "From the first machine")
        try await laptop.sync()
        // The second machine looks like a restored one, once.
        _ = try await second.createNote(space: "mission", title: "From the second machine")
        #expect(try await second.sync().restored)
        _ = try await laptop.createNote(space: "mission", title: "From the first machine again")
        try await laptop.sync()  // the laptop in turn recovers, once
        _ = try await laptop.createNote(space: "mission", title: "From the first machine, third")
        try await laptop.sync()
        _ = try await second.createNote(space: "mission", title: "From the second machine again")
        await #expect(throws: ClientError.self) { try await second.sync() }
        // Nothing typed on the second machine is lost: it waits, queued, for a new identity.
        #expect(try await second.status().pending == 1)
        let code = try await world.enrollmentCode(for: "ana")
        try await second.join(url: world.server.url, code: code, label: "ana-second-laptop", again: true)
        try await second.sync()
        try await laptop.sync()
        let both: Set = ["From the first machine", "From the second machine", "From the first machine again",
                         "From the first machine, third", "From the second machine again"]
        #expect(try await Self.titles(second) == both)
        #expect(try await Self.titles(laptop) == both)
    }

    @Test func anOutboxOfSeventyNotesOfAQuarterMegabyteEachGoesOutInBatchesThatFit() async throws {
        let world = try await ServerWorld(roles: ServerWorld.missionAndBriefing)
        defer { world.server.terminate() }
        let ana = try await world.device("ana", "ana-laptop")
        let bob = try await world.device("bob", "bob-phone")
        // Random letters, so compression cannot shrink the batches below the limits.
        var rng = SystemRandomNumberGenerator()
        let letters = Array("abcdefghijklmnopqrstuvwxyz     ".unicodeScalars)
        for i in 0..<70 {
            var body = String.UnicodeScalarView()
            for _ in 0..<250_000 { body.append(letters.randomElement(using: &rng)!) }
            _ = try await ana.createNote(space: "mission", title: "Card scan \(i)", body: String(body))
        }
        let report = try await ana.sync()
        #expect(report.pushed.applied == 70)
        #expect(try await ana.status().pending == 0)
        let pulled = try await bob.sync()
        #expect(pulled.pulled == 70)
        #expect(try await bob.notes().count == 70)
    }

    @Test func aWriteTooLargeForAnyPushIsRefusedBeforeItIsQueued() async throws {
        let dir = TemporaryDirectory()
        let client = try SatchelClient(directory: dir.file("device"))
        try await client.setCredentials(url: "http://127.0.0.1:9", device: "d-small", user: "ana", token: "sat_x")
        // A server whose pushes carry at most 64 KiB, as its last hello said.
        try await client.saveLimits(Limits(maxRequestBytes: 64 << 10))
        await #expect(throws: SatchelProtocol.Rejection.self) {
            try await client.createNote(space: "mission", title: "Too big", body: String(repeating: "x", count: 100_000))
        }
        #expect(try await client.status().pending == 0)
        _ = try await client.createNote(space: "mission", title: "Fits", body: String(repeating: "x", count: 10_000))
        #expect(try await client.status().pending == 1)
    }
}

/// A machine whose date is a year ahead, with the real `satchel` binary under `faketime`.
@Suite(.serialized) struct ClockAheadTests {
    static let faketime = "/usr/bin/faketime"

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: faketime), "needs faketime (apt-get install faketime; make test installs it)"))
    func aWriteMadeAYearAheadWaitsVisiblyAndGoesOutOnceTheDateIsFixed() async throws {
        let world = try await ServerWorld(users: ["ana", "bob"], roles: ServerWorld.missionAndBriefing)
        defer { world.server.terminate() }
        let ana = try await world.joinedDevice("ana", label: "ana-laptop")
        let bob = try await world.joinedDevice("bob", label: "bob-phone")
        try await ana.ok("sync")
        var ahead = ana
        ahead.wrapper = [Self.faketime, "-f", "+365d"]

        try await ahead.ok("note", "add", "--space", "mission", "--title", "Written a year ahead", "--body", "Met the Suzhou delegation")
        let refused = try await ahead.run("sync")
        #expect(refused.status == 5, "\(refused)")
        #expect(refused.stdout.contains("clock is 365 days ahead"), "\(refused)")
        // Still the user's: listed and found, not hidden in the outbox.
        #expect(try await ahead.ok("note", "list").stdout.contains("Written a year ahead"))
        #expect(try await ana.ok("search", "Suzhou", "--json").array().count == 1)

        // The date is fixed: the write is stamped again and goes out, and so do later ones.
        let fixed = try await ana.run("sync", "--json")
        #expect(fixed.status == 0, "\(fixed)")
        let report = try fixed.object()
        #expect((report["pushed"] as? [String: Any])?["applied"] as? Int == 1)
        #expect((report["clock"] as? [String: Any])?["state"] as? String == "restamped")
        try await ana.ok("note", "add", "--space", "mission", "--title", "Written on the right date")
        let next = try await ana.ok("sync", "--json").object()
        #expect((next["pushed"] as? [String: Any])?["applied"] as? Int == 1)
        let seen = try await bob.ok("sync", "--json").object()
        #expect(seen["pulled"] as? Int == 2)
        let list = try await bob.ok("note", "list").stdout
        #expect(list.contains("Written a year ahead") && list.contains("Written on the right date"))
    }
}
