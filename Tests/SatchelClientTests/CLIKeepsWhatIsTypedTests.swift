import Foundation
import SatchelTestSupport
import Testing

/// Nothing a person types is lost through the terminal: refused at once where the device knows
/// better, kept in full where only the server knew, undeletable until the deletion is confirmed.
@Suite(.serialized) struct CLIKeepsWhatIsTypedTests {
    @Test func aWriteToAReadOnlyOrUnknownSpaceIsRefusedAtOnceOnceTheSpacesAreKnown() async throws {
        let world = try await ServerWorld(users: ["ana"], roles: ServerWorld.missionAndBriefing)
        defer { world.server.terminate() }
        let ana = try await world.joinedDevice("ana", label: "laptop")
        try await ana.ok("sync")
        let readOnly = try await ana.run("note", "add", "--space", "briefing", "--title", "Wuhan optics", "--body", "typed on the train")
        #expect(readOnly.status == 1, "\(readOnly)")
        #expect(readOnly.stderr.contains("read-only") && readOnly.stderr.contains("mission"), "\(readOnly)")
        let unknown = try await ana.run("note", "add", "--space", "nope", "--title", "Wuhan optics")
        #expect(unknown.status == 1, "\(unknown)")
        #expect(unknown.stderr.contains("no space 'nope'"), "\(unknown)")
        let status = try await ana.ok("status", "--json").object()
        #expect(status["pending"] as? Int == 0)
        #expect(try await ana.ok("note", "list", "--json").array().isEmpty)
    }

    @Test func whatTheServerRefusesIsKeptInFullAndCanBeMovedToAnotherSpace() async throws {
        let world = try await ServerWorld(users: ["ana"], roles: ServerWorld.missionAndBriefing)
        defer { world.server.terminate() }
        let ana = try await world.joinedDevice("ana", label: "laptop")
        // Before the first sync the device cannot know the briefing is read-only.
        try await ana.ok("note", "add", "--space", "briefing", "--title", "Optics Valley", "--body", "every word of the meeting")
        try await ana.ok("note", "add", "--space", "briefing", "--title", "draft", "--body", "not needed")
        #expect(try await ana.run("sync").status == 5, "a sync with refused changes exits 5")
        let refused = try await ana.ok("rejected", "--json").array()
        #expect(refused.count == 2)
        let kept = try #require(refused.first { ($0["values"] as? [String: Any])?["title"] as? String == "Optics Valley" })
        let id = try #require(kept["id"] as? String)
        let other = try #require(refused.first { $0["id"] as? String != id }?["id"] as? String)
        #expect((kept["values"] as? [String: Any])?["body"] as? String == "every word of the meeting")
        #expect(try await ana.ok("rejected").stdout.contains("every word of the meeting"))

        let moved = try await ana.ok("rejected", "move", String(id.prefix(8)), "--space", "mission", "--json").object()
        let note = try #require(moved["note"] as? String)
        let shown = try await ana.ok("note", "show", note, "--json").object()
        #expect((shown["fields"] as? [String: Any])?["body"] as? String == "every word of the meeting")
        let pushed = try await ana.ok("sync", "--json").object()
        #expect((pushed["pushed"] as? [String: Any])?["applied"] as? Int == 1)

        #expect(try await ana.run("rejected", "discard", "zzzz").status == 2)
        #expect(try await ana.run("rejected", "move", other, "--space", "briefing").status == 1, "still read-only")
        try await ana.ok("rejected", "discard", other)
        #expect(try await ana.ok("rejected", "--json").array().isEmpty)
    }

    @Test func aDeletedNoteCanBeRestoredUntilTheDeletionIsConfirmed() async throws {
        let world = try await ServerWorld(users: ["ana"], roles: ServerWorld.missionAndBriefing)
        defer { world.server.terminate() }
        let ana = try await world.joinedDevice("ana", label: "laptop")
        try await ana.ok("sync")
        let added = try await ana.ok("note", "add", "--title", "Hubei fibre makers", "--body", "Met three", "--json").object()
        let id = try #require(added["id"] as? String)
        try await ana.ok("sync")
        let removed = try await ana.ok("note", "rm", id)
        #expect(removed.stdout.contains("satchel note restore \(id)"))
        #expect(try await ana.ok("note", "list", "--json").array().isEmpty)
        let restored = try await ana.ok("note", "restore", String(id.prefix(6)))
        #expect(restored.stdout.contains("restored note \(id)"))
        #expect(try await ana.ok("note", "list", "--json").array().first?["id"] as? String == id)
        try await ana.ok("sync")
        #expect(try await ana.ok("note", "show", id, "--json").object()["id"] as? String == id)

        let notDeleted = try await ana.run("note", "restore", id)
        #expect(notDeleted.status == 1 && notDeleted.stderr.contains("not deleted"), "\(notDeleted)")
        try await ana.ok("note", "rm", id)
        try await ana.ok("sync")
        let tooLate = try await ana.run("note", "restore", id)
        #expect(tooLate.status == 1 && tooLate.stderr.contains("confirmed by the server"), "\(tooLate)")
    }

    @Test func optionsEveryCommandTakesWorkBeforeTheSubcommandToo() async throws {
        let world = try await ServerWorld(users: ["ana"], roles: ServerWorld.missionAndBriefing)
        defer { world.server.terminate() }
        let ana = try await world.joinedDevice("ana", label: "laptop")
        // Another home than the one SATCHEL_HOME names, given before the subcommand.
        let elsewhere = CLIDevice(home: world.dir.file("elsewhere"))
        let status = try await elsewhere.ok(["--home", ana.home, "--json", "status"]).object()
        #expect(status["server"] as? String == world.server.url, "\(status)")
        let list = try await ServerProcess.run(["--data", world.data, "--json", "device", "list"])
        #expect(list.contains("laptop"), "\(list)")
    }

    @Test func underJSONErrorsAreJSONTooAndListsTakeALimitAndTheLocalTimeZone() async throws {
        let world = try await ServerWorld(users: ["ana"], roles: ServerWorld.missionAndBriefing)
        defer { world.server.terminate() }
        let ana = try await world.joinedDevice("ana", label: "laptop")
        try await ana.ok("sync")
        let missing = try await ana.run("--json", "note", "show", "zzzzzz")
        #expect(missing.status == 2 && missing.stdout.isEmpty, "\(missing)")
        let error = try #require(try JSONSerialization.jsonObject(with: Data(missing.stderr.utf8)) as? [String: Any])["error"] as? [String: Any]
        #expect(error?["code"] as? String == "not_found" && error?["exit"] as? Int == 2, "\(missing)")
        let usage = try await ana.run("note", "list", "--limit", "0", "--json")
        let usageError = try JSONSerialization.jsonObject(with: Data(usage.stderr.utf8)) as? [String: Any]
        #expect(usage.status == 1 && (usageError?["error"] as? [String: Any])?["code"] as? String == "usage", "\(usage)")

        for i in 1...3 { try await ana.ok("note", "add", "--title", "note \(i)") }
        let two = try await ana.ok("note", "list", "--limit", "2")
        #expect(two.stdout.split(separator: "\n").count == 2 && two.stdout.contains("note 3"), "\(two)")
        #expect(two.stderr.contains("1 older note not shown"), "\(two)")
        // Human times in the machine's zone with its offset; --utc and JSON in UTC.
        let id = try #require(try await ana.ok("note", "list", "--json").array().first?["id"] as? String)
        let shanghai = try await ana.run(["note", "show", id], environment: ["TZ": "Asia/Shanghai"])
        #expect(shanghai.stdout.contains("+08:00"), "\(shanghai)")
        let utc = try await ana.run(["note", "show", id, "--utc"], environment: ["TZ": "Asia/Shanghai"])
        #expect(!utc.stdout.contains("+08:00") && utc.stdout.contains("Z"), "\(utc)")
        let json = try await ana.run(["note", "show", id, "--json"], environment: ["TZ": "Asia/Shanghai"])
        #expect(!json.stdout.contains("+08:00"), "\(json)")
    }

    @Test func aBinaryBodyFileIsRefusedAndNothingIsSaved() async throws {
        let world = try await ServerWorld(users: ["ana"], roles: ServerWorld.missionAndBriefing)
        defer { world.server.terminate() }
        let ana = try await world.joinedDevice("ana", label: "laptop")
        let photo = world.dir.file("card.jpg")
        // A JPEG's first bytes: not UTF-8.
        FileManager.default.createFile(atPath: photo, contents: Data([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00]))
        let result = try await ana.run("note", "add", "--title", "business card", "--body-file", photo)
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.contains("is not text"), "\(result)")
        let nul = world.dir.file("nul.txt")
        FileManager.default.createFile(atPath: nul, contents: Data("text\u{0}more".utf8))
        #expect(try await ana.run("note", "add", "--title", "x", "--body-file", nul).status == 1)
        #expect(try await ana.ok("status", "--json").object()["pending"] as? Int == 0)
    }

    @Test func anEditorLeftEmptyCreatesAndErasesNothing() async throws {
        let world = try await ServerWorld(users: ["ana"], roles: ServerWorld.missionAndBriefing)
        defer { world.server.terminate() }
        let ana = try await world.joinedDevice("ana", label: "laptop")
        try await ana.ok("sync")
        // `script` gives the command a terminal, so the editor opens; `true` leaves its file
        // as it was (empty for a new note), `truncate` empties it. The terminal carries stdout
        // and stderr together.
        func inTerminal(_ command: String, editor: String) throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
            process.arguments = ["-qec", "\(CLIDevice.binary) \(command)", "/dev/null"]
            var env = ProcessInfo.processInfo.environment
            (env["SATCHEL_HOME"], env["NO_COLOR"], env["EDITOR"]) = (ana.home, "1", editor)
            process.environment = env
            let out = Pipe()
            process.standardOutput = out
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        let add = try inTerminal("note add --title 'Met the mayor'", editor: "true")
        #expect(add.contains("left empty"), "\(add)")
        #expect(try await ana.ok("status", "--json").object()["pending"] as? Int == 0)

        let added = try await ana.ok("note", "add", "--title", "Met the mayor", "--body", "he likes fibre", "--json").object()
        let id = try #require(added["id"] as? String)
        let edit = try inTerminal("note edit \(id)", editor: "truncate -s 0")
        #expect(edit.contains("left empty"), "\(edit)")
        let shown = try await ana.ok("note", "show", id, "--json").object()
        #expect((shown["fields"] as? [String: Any])?["body"] as? String == "he likes fibre")
    }
}
