import AsyncHTTPClient
import Foundation
import SatchelProtocol
import SatchelTesting
import SatchelTestSupport
import Testing

/// The operator's day on PostgreSQL, through the real binaries: every command that takes
/// `--data` takes `--database` (here the URL also comes from SATCHEL_DATABASE_URL and a config
/// file), a server serves from it, compaction, export, the per-device view and metrics work, and
/// `backup`/`restore` refuse with the PostgreSQL tools' steps.
@Suite struct PostgresOperationsTests {
    let dir = TemporaryDirectory()

    /// Runs `satchel-server` to its end: status, stdout, stderr (files, so nothing blocks).
    func cli(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, out: String, err: String) {
        let out = dir.file("cli-\(UUID().uuidString).out"), err = out + ".err"
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ServerProcess.binary)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in c.resume() }
            do { try process.run() } catch { c.resume(throwing: error) }
        }
        return (process.terminationStatus, try String(contentsOfFile: out, encoding: .utf8), try String(contentsOfFile: err, encoding: .utf8))
    }

    func ok(_ arguments: [String], environment: [String: String] = [:]) async throws -> String {
        let r = try await cli(arguments, environment: environment)
        try #require(r.status == 0, "satchel-server \(arguments.joined(separator: " ")) failed: \(r.err)")
        return r.out
    }

    func json(_ arguments: [String], environment: [String: String] = [:]) async throws -> Any {
        try JSONSerialization.jsonObject(with: Data(try await ok(arguments + ["--json"], environment: environment).utf8))
    }

    @Test func operatorCommandsAndAServerWorkOnPostgreSQL() async throws {
        let url = try await TestPostgres.createDatabase()
        let db = ["--database", url]
        // The URL three ways: the flag, the environment, the config file.
        _ = try await ok(["space", "create", "mission"] + db)
        _ = try await ok(["user", "add", "ana"], environment: ["SATCHEL_DATABASE_URL": url])
        let config = dir.file("satchel.conf")
        try "# the cluster's database\ndatabase = \(url)\n".write(toFile: config, atomically: true, encoding: .utf8)
        _ = try await ok(["member", "add", "--space", "mission", "--user", "ana", "--role", "writer", "--config", config])
        let briefing = try await ok(["briefing", "load", BriefingTests.path] + db)
        #expect(briefing.contains("227 new"), "\(briefing)")
        let enrolled = try await json(["enroll", "--user", "ana", "--device", "ana-phone"] + db) as! [String: Any]
        let operatorToken = (try await json(["operator-token", "create"] + db) as! [String: Any])["token"] as! String

        // A server on the database (its --data is left unused): a device enrolls, pushes, pulls.
        let server = try await ServerProcess(data: dir.file("unused"), extraArguments: db)
        defer { server.terminate() }
        let ana = try await HTTPDevice.enroll(url: server.url, code: enrolled["code"] as! String, label: "ana-phone")
        var w = DeviceWriter(ana.id, physical: Int64(Date().timeIntervalSince1970 * 1000))
        let pushed = try await ana.push([w.createNote("n1", title: "Wuhan", body: "Optics Valley"), w.createNote("n2"), w.createNote("n3")])
        #expect(pushed.allSatisfy { $0.status == .applied })
        _ = try await ana.push([w.mutation(.delete, RecordKey(space: "mission", collection: .notes, record: "n2"), base: pushed[1].version, [:])])
        #expect(try await ana.pullAll("mission").count == 4)
        #expect(try await ana.pullAll("briefing").count == 227)

        // The per-device view, from the operator commands on the database.
        let devices = try await json(["device", "list"] + db) as! [[String: Any]]
        #expect(devices.map { $0["label"] as? String } == ["ana-phone"])
        // The server writes its bookkeeping every couple of seconds: the view shows the pull once
        // it is written.
        var shown: [String: Any] = [:], behind: Int?
        let deadline = ContinuousClock.now + .seconds(15)
        repeat {
            shown = try await json(["device", "show", ana.id.rawValue] + db) as! [String: Any]
            behind = (shown["spaces"] as! [[String: Any]]).first { $0["space"] as? String == "mission" }?["notYetPulled"] as? Int
            if behind != 0 { try await Task.sleep(for: .milliseconds(300)) }
        } while behind != 0 && ContinuousClock.now < deadline
        #expect(behind == 0, "\(shown)")
        #expect(shown["lastSuccessfulSync"] as? String != nil, "\(shown)")

        // Compaction and export.
        let compacted = try await json(["compact", "--older-than", "0s", "--space", "mission"] + db) as! [[String: Any]]
        #expect(compacted.first?["tombstones"] as? Int == 1 && compacted.first?["changes"] as? Int == 4, "\(compacted)")
        let export = try await json(["export", "--space", "mission"] + db) as! [String: Any]
        #expect((export["records"] as! [[String: Any]]).map { $0["id"] as? String } == ["n1", "n3"])

        // Metrics: the store's size is the database's.
        var request = HTTPClientRequest(url: server.url + "/metrics")
        request.headers.add(name: "Authorization", value: "Bearer \(operatorToken)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let metrics = String(buffer: try await response.body.collect(upTo: 1 << 20))
        let size = metrics.split(separator: "\n").first { $0.hasPrefix("satchel_store_bytes") }.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        #expect(size > 1_000_000, "satchel_store_bytes \(size)")

        // backup and restore name PostgreSQL's tools and change nothing.
        let backup = try await cli(["backup", dir.file("copy.sqlite")] + db)
        #expect(backup.status != 0 && backup.err.contains("pg_dump") && !FileManager.default.fileExists(atPath: dir.file("copy.sqlite")), "\(backup.err)")
        let restore = try await cli(["restore", dir.file("copy.sqlite")] + db)
        #expect(restore.status != 0 && restore.err.contains("pg_restore") && restore.err.contains("--after-pg-restore"), "\(restore.err)")
        // After a pg_restore: every device pulls again, told why.
        let after = try await json(["restore", "--after-pg-restore"] + db) as! [String: Any]
        #expect(after["devicesToRebootstrap"] as? Int == 1)
        let (status, answer) = try await ana.send("/v1/pull", .pullRequest(PullRequest(space: "mission", after: 4, limit: 10)))
        guard case .error(let why) = answer else { Issue.record("expected a refusal, got \(answer)"); return }
        #expect(status == 410 && why.message.contains("operator asked"), "\(why)")
    }

    @Test func aDatabaseThatCannotBeUsedIsNamedWithTheReason() async throws {
        let server = try TestPostgres.serverURL()
        let missing = server.replacingOccurrences(of: "/postgres?", with: "/no_such_database?")
        let r = try await cli(["space", "list", "--database", missing])
        #expect(r.status == 1 && r.err.contains("no_such_database") && r.err.contains("does not exist"), "\(r.err)")
        let refused = try await cli(["serve", "--port", "0", "--database", "postgres://satchel@127.0.0.1:1/satchel"])
        #expect(refused.status == 1 && refused.err.contains("Connection refused"), "\(refused.err)")
        let malformed = try await cli(["space", "list", "--database", "mysql://x@y/z"])
        #expect(malformed.status != 0 && malformed.err.contains("postgres://"), "\(malformed.err)")
    }
}
