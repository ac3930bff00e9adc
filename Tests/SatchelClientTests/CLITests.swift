import Foundation
import SatchelProtocol
import SatchelTestSupport
import Testing

/// What one run of the `satchel` binary did.
struct CLIResult: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String

    var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }

    func json() throws -> Any {
        try JSONSerialization.jsonObject(with: Data(stdout.utf8))
    }

    func object() throws -> [String: Any] {
        try #require(try json() as? [String: Any], "not a JSON object: \(stdout)")
    }

    func array() throws -> [[String: Any]] {
        try #require(try json() as? [[String: Any]], "not a JSON array: \(stdout)")
    }
}

/// The real `satchel` binary, run as a child process with its own data folder, like a person
/// at a terminal would (but never a terminal: no colour, no progress bar, no editor).
struct CLIDevice {
    let home: String
    /// A command the binary runs under, e.g. `faketime -f +365d` for a clock a year ahead.
    var wrapper: [String] = []

    static var binary: String { builtProduct("satchel") }

    /// Runs `satchel ARGS…` and waits for it to exit.
    func run(_ arguments: String..., stdin: String? = nil, environment: [String: String] = [:]) async throws -> CLIResult {
        try await run(arguments, stdin: stdin, environment: environment)
    }

    func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) async throws -> CLIResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: wrapper.first ?? Self.binary)
        process.arguments = wrapper.isEmpty ? arguments : Array(wrapper.dropFirst()) + [Self.binary] + arguments
        var env = ProcessInfo.processInfo.environment
        // A faked date, not faked timers: the HTTP client's deadlines stay real.
        if !wrapper.isEmpty { env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1" }
        env["SATCHEL_HOME"] = home
        env["NO_COLOR"] = "1"
        env["EDITOR"] = "false"  // an editor opened by mistake fails instead of hanging
        env.merge(environment) { $1 }
        process.environment = env
        // Files, not pipes: nothing blocks however much the command prints.
        let out = home + ".\(UUID().uuidString).out", err = home + ".\(UUID().uuidString).err"
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: out)
            try? FileManager.default.removeItem(atPath: err)
        }
        let outHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        process.standardOutput = outHandle
        process.standardError = errHandle
        let input = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in continuation.resume() }
            do {
                try process.run()
            } catch {
                continuation.resume(throwing: error)
                return
            }
            if let stdin {
                input.fileHandleForWriting.write(Data(stdin.utf8))
                try? input.fileHandleForWriting.close()
            }
        }
        try outHandle.close()
        try errHandle.close()
        return CLIResult(
            status: process.terminationStatus,
            stdout: String(decoding: FileManager.default.contents(atPath: out) ?? Data(), as: UTF8.self),
            stderr: String(decoding: FileManager.default.contents(atPath: err) ?? Data(), as: UTF8.self))
    }

    /// Runs a command that must succeed.
    @discardableResult
    func ok(_ arguments: String..., stdin: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws -> CLIResult {
        try await ok(arguments, stdin: stdin, sourceLocation: sourceLocation)
    }

    @discardableResult
    func ok(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation) async throws -> CLIResult {
        let result = try await run(arguments, stdin: stdin, environment: environment)
        try #require(result.status == 0, "satchel \(arguments.joined(separator: " ")) failed: \(result)", sourceLocation: sourceLocation)
        return result
    }
}

/// The CLI tests join their devices through the real `satchel join`.
extension ServerWorld {
    /// A device of `user` that has joined the server through `satchel join`.
    func joinedDevice(_ user: UserID, label: String) async throws -> CLIDevice {
        let device = CLIDevice(home: dir.file("device-\(label)"))
        let code = try await enrollmentCode(for: user)
        let joined = try await device.ok("join", server.url, code, "--label", label)
        #expect(joined.stdout.contains("joined \(server.url)"))
        return device
    }
}

@Suite(.serialized) struct CLITests {
    @Test func twoDevicesWriteOfflineSyncSearchConflictAndResolveWithTheCLI() async throws {
        let world = try await ServerWorld(users: ["ana", "bob"], roles: ServerWorld.missionAndBriefing)
        defer { world.server.terminate() }
        let ana = try await world.joinedDevice("ana", label: "ana-laptop")
        let bob = try await world.joinedDevice("bob", label: "bob-phone")

        // Written before any sync: saved, counted as pending and searchable at once.
        let added = try await ana.ok(
            "note", "add", "--space", "mission", "--title", "Suzhou Industrial Park visit",
            "--body", "Met the SIP nanotech cluster team. Follow up on the battery supplier.", "--tag", "suzhou", "--json")
        let id = try #require(try added.object()["id"] as? String)
        let offline = try await ana.ok("status", "--json").object()
        #expect(offline["pending"] as? Int == 1)
        #expect(offline["lastSync"] is NSNull)
        #expect(try await ana.ok("search", "nanotech", "--json").array().first?["id"] as? String == id)

        let pushed = try await ana.ok("sync", "--json").object()
        #expect((pushed["pushed"] as? [String: Any])?["applied"] as? Int == 1)

        // Bob fetches it and finds it; no progress bar when stderr is not a terminal.
        let bobSync = try await bob.ok("sync")
        #expect(bobSync.stdout.hasPrefix("synced: "))
        #expect(bobSync.stdout.contains("new     Suzhou Industrial Park visit in mission, by ana"), "what arrived, in words: \(bobSync)")
        #expect(bobSync.stderr.isEmpty)
        let hits = try await bob.ok("search", "battery", "supplier", "--collection", "notes", "--json").array()
        #expect(hits.first?["id"] as? String == id)
        #expect((hits.first?["matches"] as? [String])?.contains("battery") == true)
        let human = try await bob.ok("search", "battery", "supplier")
        #expect(human.stdout.contains("Suzhou Industrial Park visit"))
        #expect(human.stdout.contains("[battery]"))

        // Both retitle the note before seeing each other's edit (Ana by an id prefix).
        try await ana.ok("note", "edit", String(id.prefix(8)), "--title", "SIP visit (Ana)")
        try await bob.ok("note", "edit", id, "--title", "SIP visit (Bob)")
        let anaSync = try await ana.ok("sync", "--json").object()
        #expect(anaSync["arrivedCount"] as? Int == 0, "own writes do not arrive: \(anaSync)")
        let conflicted = try await bob.ok("sync")
        #expect(conflicted.stdout.contains("1 conflict open"))  // and still exit 0
        try await ana.ok("sync")

        let anaConflicts = try await ana.ok("conflicts", "--json").array()
        let bobConflicts = try await bob.ok("conflicts", "--json").array()
        #expect(anaConflicts.count == 1)
        #expect(bobConflicts.count == 1)
        let conflict = try #require(anaConflicts.first)
        let conflictID = try #require(conflict["id"] as? String)
        #expect(bobConflicts.first?["id"] as? String == conflictID)
        #expect(conflict["record"] as? String == id)
        #expect(conflict["field"] as? String == "title")
        #expect(Set([conflict["kept"] as? String, conflict["winner"] as? String]) == ["SIP visit (Ana)", "SIP visit (Bob)"])
        #expect(try await ana.ok("conflicts").stdout.contains("satchel resolve \(conflictID)"))

        // Ana writes a merged title; after both sync, they agree and nothing is left open.
        try await ana.ok("resolve", conflictID, "--value", "SIP visit (Ana and Bob)")
        try await ana.ok("sync")
        try await bob.ok("sync")
        let anaNote = try await ana.ok("note", "show", id, "--json")
        let bobNote = try await bob.ok("note", "show", id, "--json")
        #expect(anaNote.stdout == bobNote.stdout)
        let fields = try #require(try anaNote.object()["fields"] as? [String: Any])
        #expect(fields["title"] as? String == "SIP visit (Ana and Bob)")
        #expect(fields["tags"] as? [String] == ["suzhou"])
        #expect(try await ana.ok("conflicts", "--json").array().isEmpty)
        #expect(try await bob.ok("conflicts", "--json").array().isEmpty)
        let status = try await ana.ok("status", "--json").object()
        #expect(status["pending"] as? Int == 0)
        #expect(status["conflicts"] as? Int == 0)
        #expect((status["spaces"] as? [[String: Any]])?.compactMap { $0["space"] as? String }.sorted() == ["briefing", "mission"])
        #expect(try await bob.ok("show", id).stdout.contains("title:     SIP visit (Ana and Bob)"))
    }

    @Test func withNoLinkSyncSaysOfflineWithinSecondsAndEverythingElseStillWorks() async throws {
        let world = try await ServerWorld(users: ["ana"], roles: ServerWorld.missionAndBriefing)
        let ana = try await world.joinedDevice("ana", label: "laptop")
        try await ana.ok("sync")
        let added = try await ana.ok("note", "add", "--title", "written in a basement", "--body", "-", "--json", stdin: "no signal down here\n")
        let id = try #require(try added.object()["id"] as? String)
        world.server.kill9()

        let start = ContinuousClock.now
        let sync = try await ana.run("sync")
        #expect(ContinuousClock.now - start < .seconds(20), "the hello deadline is 5 s; the rest is process start-up on a loaded machine")
        #expect(sync.status == 3, "\(sync)")
        #expect(sync.stderr.hasPrefix("satchel: cannot reach the server"), "\(sync)")
        #expect(sync.stdout.isEmpty)

        let status = try await ana.ok("status", "--json").object()
        #expect(status["pending"] as? Int == 1)
        #expect((status["lastError"] as? String)?.contains("cannot reach the server") == true)
        #expect(status["lastSync"] is String)
        #expect(try await ana.ok("note", "list", "--json").array().map { $0["id"] as? String } == [id])
        let note = try await ana.ok("note", "show", id, "--json").object()
        #expect(note["synced"] as? Bool == false)
        #expect((note["fields"] as? [String: Any])?["body"] as? String == "no signal down here")
        #expect(try await ana.ok("search", "basement").stdout.contains("[basement]"))
        withExtendedLifetime(world) {}
    }

    @Test func errorsSayWhatToDoAndExitWithTheDocumentedCodes() async throws {
        let dir = TemporaryDirectory()
        let device = CLIDevice(home: dir.file("fresh"))

        let missing = try await device.run("note", "show", "0123456789abcdefghjkmnpqrs")
        #expect(missing.status == 2, "\(missing)")
        #expect(missing.stderr.hasPrefix("satchel: no record '0123456789abcdefghjkmnpqrs'"))
        #expect(try await device.run("show", "nope").status == 2)

        let usage = try await device.run("resolve", "x.c0")
        #expect(usage.status == 1)
        #expect(usage.stderr.hasPrefix("satchel: choose exactly one of --keep, --restore, --value TEXT or --delete"))
        #expect(try await device.run("note", "frobnicate").status == 1)
        #expect(try await device.run("search", "--limit", "0", "x").status == 1)

        let notJoined = try await device.run("sync")
        #expect(notJoined.status == 4, "\(notJoined)")
        #expect(notJoined.stderr.contains("satchel join"))

        let status = try await device.ok("status", "--json").object()
        #expect(status["joined"] as? Bool == false)
        #expect(status["pending"] as? Int == 0)
        withExtendedLifetime(dir) {}
    }

    static let commands: [[String]] = [
        [], ["join"], ["note"], ["note", "add"], ["note", "edit"], ["note", "list"], ["note", "show"], ["note", "rm"], ["note", "restore"],
        ["search"], ["show"], ["sync"], ["watch"], ["status"], ["conflicts"], ["resolve"], ["rejected"],
        ["rejected", "list"], ["rejected", "move"], ["rejected", "discard"], ["export"],
    ]

    @Test(arguments: commands) func everyCommandsHelpShowsAnExample(_ command: [String]) async throws {
        let dir = TemporaryDirectory()
        let help = try await CLIDevice(home: dir.file("help")).ok(command + ["--help"])
        #expect(help.stdout.contains("Example"))
        #expect(help.stdout.contains("USAGE: satchel"))
        if command.isEmpty { #expect(help.stdout.contains("Exit codes:")) }
        withExtendedLifetime(dir) {}
    }
}
