import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SatchelProtocol
import SatchelTesting
import SatchelTestSupport
import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite

/// Retention, backups, exports and metrics against a running server process, through the
/// admin API (`--server`) and on its data directory.
@Suite(.serialized) struct OperationsTests {
    typealias Setup = AdminTests.Setup

    func admin(_ s: Setup, _ method: HTTPMethod, _ path: String, token: String?) async throws -> (status: Int, headers: HTTPHeaders, body: String) {
        var request = HTTPClientRequest(url: s.server.url + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), response.headers, String(buffer: body))
    }

    @Test func compactExportAndRebootstrapWorkRemotelyAndLocally() async throws {
        let s = try await Setup()
        defer { s.server.terminate() }
        var w = DeviceWriter(s.ana.id, physical: Int64(Date().timeIntervalSince1970 * 1000))
        _ = try await s.ana.push([w.createNote("n1", title: "Suzhou", body: "SIP visit"), w.createNote("n2"), w.createNote("n3")])
        let n2 = RecordKey(space: "mission", collection: .notes, record: "n2")
        _ = try await s.ana.push([w.mutation(.delete, n2, base: 2, [:])])
        _ = try await s.ana.pullAll("mission")

        // Dry runs agree remotely and locally and change nothing.
        let dryRemote = try await s.json(["compact", "--older-than", "0s", "--dry-run"], remote: true) as! [[String: Any]]
        let dryLocal = try await s.json(["compact", "--older-than", "0s", "--dry-run"], remote: false) as! [[String: Any]]
        let mission = { (reports: [[String: Any]]) in reports.first { $0["space"] as? String == "mission" }! }
        #expect(mission(dryRemote)["changes"] as? Int == 4 && mission(dryRemote)["tombstones"] as? Int == 1 && mission(dryRemote)["dryRun"] as? Bool == true)
        #expect(NSDictionary(dictionary: mission(dryRemote)) == NSDictionary(dictionary: mission(dryLocal)))
        #expect((try await s.json(["space", "list"], remote: true) as! [[String: Any]]).allSatisfy { $0["horizon"] as? Int == 0 })
        // Retention keeps changes written within the period.
        let recent = try await s.json(["compact", "--older-than", "1d"], remote: true) as! [[String: Any]]
        #expect(mission(recent)["changes"] as? Int == 0 && mission(recent)["horizon"] as? Int == 0)

        let done = try await s.json(["compact", "--older-than", "0s", "--space", "mission"], remote: true) as! [[String: Any]]
        #expect(done.count == 1 && mission(done)["horizon"] as? Int == 4 && mission(done)["dryRun"] as? Bool == false)
        let spaces = try await s.json(["space", "list"], remote: false) as! [[String: Any]]
        #expect(spaces.first { $0["id"] as? String == "mission" }?["horizon"] as? Int == 4)

        // The old log is gone: an incremental pull from before the horizon must start over,
        // and a bootstrap gets the two live notes whole.
        let (status, message) = try await s.ana.send("/v1/pull", .pullRequest(PullRequest(space: "mission", after: 1, limit: 10)))
        guard case .error(let expired) = message else { Issue.record("expected an error, got \(message)"); return }
        #expect(status == 410 && expired.code == "cursor_expired" && expired.message.contains("again from the start"))
        let (_, snapshot) = try await s.ana.send("/v1/pull", .pullRequest(PullRequest(space: "mission", after: 0, limit: 10, bootstrap: 4)))
        guard case .pullResponse(let page) = snapshot else { Issue.record("expected a page, got \(snapshot)"); return }
        #expect(page.changes.map(\.key.record.rawValue).sorted() == ["n1", "n3"] && page.changes.allSatisfy { $0.previousVersion == 0 })
        #expect(page.cursor == 4 && !page.hasMore)

        // Export: the same JSON both ways, live records only, values readable.
        let exportRemote = try await s.json(["export", "--space", "mission"], remote: true) as! [String: Any]
        let exportLocal = try await s.json(["export", "--space", "mission"], remote: false) as! [String: Any]
        let records = exportRemote["records"] as! [[String: Any]]
        #expect(records.map { $0["id"] as? String } == ["n1", "n3"])
        #expect((records[0]["fields"] as? [String: Any])?["title"] as? String == "Suzhou")
        #expect(NSArray(array: records) == NSArray(array: exportLocal["records"] as! [[String: Any]]))
        #expect(exportRemote["head"] as? Int == 4 && exportRemote["horizon"] as? Int == 4)
        await #expect(throws: (any Error).self) { try await ServerProcess.run(["export", "--space", "nowhere", "--data", s.data]) }

        // An operator's re-bootstrap request: the next incremental pull is refused with why,
        // a pull from 0 clears it.
        let device = try await s.json(["device", "rebootstrap", s.ana.id.rawValue, "--space", "mission"], remote: true) as! [String: Any]
        #expect(device["id"] as? String == s.ana.id.rawValue)
        let (forcedStatus, forced) = try await s.ana.send("/v1/pull", .pullRequest(PullRequest(space: "mission", after: 4, limit: 10)))
        guard case .error(let why) = forced else { Issue.record("expected an error, got \(forced)"); return }
        #expect(forcedStatus == 410 && why.message.contains("operator asked"))
        _ = try await s.ana.send("/v1/pull", .pullRequest(PullRequest(space: "mission", after: 0, limit: 10, bootstrap: 4)))
        let (okStatus, _) = try await s.ana.send("/v1/pull", .pullRequest(PullRequest(space: "mission", after: 4, limit: 10)))
        #expect(okStatus == 200)
        _ = try await ServerProcess.run(["device", "rebootstrap", s.ana.id.rawValue, "--space", "mission", "--data", s.data])
        #expect(try await s.ana.send("/v1/pull", .pullRequest(PullRequest(space: "mission", after: 4, limit: 10))).status == 410)
    }

    @Test func aBackupTakenUnderWriteLoadRestoresToAConsistentStoreThatServes() async throws {
        let s = try await Setup()
        let acknowledged = Locked<[MutationID]>([])
        let stop = Locked(false)
        let ana = s.ana
        let writer = Task {
            var w = DeviceWriter(ana.id, physical: Int64(Date().timeIntervalSince1970 * 1000))
            var n = 0
            while !stop.value {
                let batch = (0..<20).map { _ in n += 1; return w.createNote("load-\(n)", body: "note \(n) written while the backup runs") }
                let results = try await ana.push(batch)
                acknowledged.withLock { $0 += results.filter { $0.status == .applied }.map(\.mutation) }
            }
        }
        // Under way before the backups begin (on a loaded machine the first answers take a while).
        var deadline = ContinuousClock.now + .seconds(20)
        while acknowledged.withLock({ $0.isEmpty }) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let remoteFile = s.dir.file("remote.sqlite"), localFile = s.dir.file("local.sqlite")
        let before = acknowledged.withLock { $0 }
        _ = try await ServerProcess.run(["backup", remoteFile, "--server", s.server.url, "--token", s.token])
        _ = try await ServerProcess.run(["backup", localFile, "--data", s.data])
        deadline = ContinuousClock.now + .seconds(20)
        while acknowledged.withLock({ $0.count }) <= before.count && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        stop.value = true
        try await writer.value
        let total = acknowledged.withLock { $0.count }
        #expect(before.count > 0 && total > before.count, "the writer did not keep writing during the backups")
        await #expect(throws: (any Error).self) { try await ServerProcess.run(["backup", remoteFile, "--data", s.data]) }

        // Each backup is one consistent snapshot: whole, holding every write acknowledged before
        // it began, and its records are exactly what replaying its change log gives.
        for file in [remoteFile, localFile] {
            #expect(try Restore.check(file) == SQLiteServerStore.migrator.latestVersion)
            let copy = try SQLiteServerStore(path: file)
            let notes = try await copy.records(in: "mission", collection: .notes)
            var replayed: [RecordKey: [FieldName: Value]?] = [:]
            var cursor: Version = 0
            while true {
                let page = try await copy.pull(space: "mission", after: cursor, limit: 500)
                replayed = try StoreConformance.apply(try page.encodedChanges.map { try Change(wireBytes: $0) }, to: replayed)
                cursor = page.cursor
                if !page.hasMore { break }
            }
            #expect(replayed.compactMapValues { $0 } == notes.filter { !$0.value.deleted }.mapValues(\.values))
            #expect(notes.count >= before.count, "a write acknowledged before the backup began is missing from \(file)")
            #expect(notes.count < total + 1)
            await copy.close()
        }

        // Restore refuses while the server serves, then works once it is stopped.
        await #expect(throws: (any Error).self) { try await ServerProcess.run(["restore", remoteFile, "--data", s.data]) }
        await #expect(throws: (any Error).self) { try await ServerProcess.run(["restore", s.dir.file("missing.sqlite"), "--data", s.data]) }
        s.server.terminate()
        let restored = try JSONSerialization.jsonObject(with: Data(try await ServerProcess.run(["restore", remoteFile, "--data", s.data, "--json"]).utf8)) as! [String: Any]
        #expect(restored["devicesToRebootstrap"] as? Int == 1 && restored["previousKeptAt"] as? String != nil)
        let server = try await ServerProcess(data: s.data)
        defer { server.terminate() }
        let device = HTTPDevice(url: server.url, id: ana.id, token: ana.token)
        // The device's cursor is from before the restore: it is told to start over, and a
        // bootstrap gives it exactly the restored notes; new writes get new versions.
        let (status, _) = try await device.send("/v1/pull", .pullRequest(PullRequest(space: "mission", after: 1, limit: 10)))
        #expect(status == 410)
        let check = try SQLiteServerStore(path: remoteFile)
        let restoredNotes = try await check.records(in: "mission", collection: .notes)
        let (head, _) = try await check.head(of: "mission")
        await check.close()
        var cursor: Version = 0, pulled = 0
        while true {
            let (_, message) = try await device.send("/v1/pull", .pullRequest(PullRequest(space: "mission", after: cursor, limit: 500, bootstrap: 0)))
            guard case .pullResponse(let page) = message else { Issue.record("\(message)"); return }
            pulled += page.changes.count
            cursor = page.cursor
            if !page.hasMore { break }
        }
        #expect(pulled == restoredNotes.count && cursor == head)
        var w = DeviceWriter(ana.id, physical: Int64(Date().timeIntervalSince1970 * 1000) + 10_000)
        w.counter = 1_000_000
        let after = try await device.push([w.createNote("after-restore")])
        #expect(after.first?.status == .applied && after.first!.version == head + 1)
    }

    @Test func metricsParseAsPrometheusTextAndTheirCountersMove() async throws {
        let s = try await Setup()
        defer { s.server.terminate() }
        #expect(try await admin(s, .GET, "/metrics", token: nil).status == 401)
        #expect(try await admin(s, .GET, "/metrics", token: s.ana.token).status == 401, "a device token reached the metrics")
        let first = try Prometheus.parse(try await admin(s, .GET, "/metrics", token: s.token).body)
        var w = DeviceWriter(s.ana.id, physical: Int64(Date().timeIntervalSince1970 * 1000))
        _ = try await s.ana.push([w.createNote("m1"), w.createNote("m2"), w.createNote("elsewhere", space: "nowhere")])
        _ = try await s.ana.pullAll("mission")
        let scrape = try await admin(s, .GET, "/metrics", token: s.token)
        #expect(scrape.headers.first(name: "Content-Type")?.hasPrefix("text/plain") == true)
        #expect(scrape.headers.first(name: "X-Request-Id")?.isEmpty == false)
        let second = try Prometheus.parse(scrape.body)
        func delta(_ name: String, _ labels: [String: String]) -> Double {
            (second.value(name, labels) ?? 0) - (first.value(name, labels) ?? 0)
        }
        #expect(delta("satchel_mutations_total", ["outcome": "applied"]) == 2)
        #expect(delta("satchel_mutations_total", ["outcome": "rejected"]) == 1)
        #expect(delta("satchel_http_requests_total", ["route": "/v1/push", "status": "200"]) == 1)
        #expect(delta("satchel_http_requests_total", ["route": "/v1/pull", "status": "200"]) >= 1)
        #expect(delta("satchel_frame_bytes_total", ["direction": "in", "encoding": "raw"]) > 0)
        #expect(delta("satchel_frame_bytes_total", ["direction": "out", "encoding": "compressed"]) > 0)
        #expect((second.value("satchel_store_bytes", [:]) ?? 0) > 0)
        #expect(second.value("satchel_live_connections", [:]) == 0)
        #expect(second.samples.contains { $0.name == "satchel_http_request_duration_seconds_bucket" })
        // Nothing secret in a metric: no token, no note text.
        #expect(!scrape.body.contains(s.ana.token) && !scrape.body.contains(s.token) && !scrape.body.contains("Body text"))
    }
}

extension OperationsTests {
    @Test func logsCarryRequestIDsButNoTokenCodeOrNoteText() async throws {
        let logDir = TemporaryDirectory()
        let log = logDir.file("server.log")
        let world = try await ServerWorld(users: ["ana"], logLevel: "trace", logFile: log)
        let server = world.server
        let created = try JSONSerialization.jsonObject(with: Data(try await ServerProcess.run(["operator-token", "create", "--data", world.data, "--json"]).utf8)) as! [String: Any]
        let operatorToken = created["token"] as! String
        let code = try await world.enrollmentCode(for: "ana")
        let ana = try await HTTPDevice.enroll(url: server.url, code: code, label: "ana-phone")
        var w = DeviceWriter(ana.id, physical: Int64(Date().timeIntervalSince1970 * 1000))
        _ = try await ana.push([w.createNote("n1", title: "Private-Title-7731", body: "Private-Body-9142 about the visit")])
        _ = try await ana.pullAll("mission")
        let wrong = HTTPDevice(url: server.url, id: ana.id, token: "sat_" + String(repeating: "x", count: 43))
        _ = try await wrong.send("/v1/pull", .pullRequest(PullRequest(space: "mission", after: 0, limit: 1)))
        _ = try await ServerProcess.run(["device", "list", "--server", server.url, "--token", operatorToken])
        server.terminate()
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(text.contains("hb.request.id="), "request log lines carry no request id")
        #expect(text.contains("/v1/push"))
        for secret in [ana.token, operatorToken, code, "Private-Title-7731", "Private-Body-9142", wrong.token] {
            #expect(!text.contains(secret), "the server log holds a secret or note text: \(secret.prefix(12))…")
        }
    }
}

/// A strict reader of the Prometheus text format (0.0.4): every line is a comment or
/// `name{label="value",…} number`, and every sample's family has a TYPE line.
struct Prometheus {
    struct Sample { var name: String; var labels: [String: String]; var value: Double }
    var samples: [Sample] = []

    static func parse(_ text: String) throws -> Prometheus {
        var out = Prometheus()
        var typed: Set<String> = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else { throw TestFailure("bad TYPE line: \(line)") }
                typed.insert(String(parts[2]))
                continue
            }
            if line.hasPrefix("#") { continue }
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { throw TestFailure("bad sample line: \(line)") }
            let series = line[..<space]
            var labels: [String: String] = [:]
            let name: String
            if let open = series.firstIndex(of: "{") {
                guard series.last == "}" else { throw TestFailure("bad labels: \(line)") }
                name = String(series[..<open])
                for pair in series[series.index(after: open)..<series.index(before: series.endIndex)].split(separator: ",") where !pair.isEmpty {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2, kv[1].hasPrefix("\""), kv[1].hasSuffix("\"") else { throw TestFailure("bad label: \(line)") }
                    labels[String(kv[0])] = String(kv[1].dropFirst().dropLast())
                }
            } else {
                name = String(series)
            }
            guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }) else { throw TestFailure("bad metric name: \(line)") }
            let family = ["_bucket", "_sum", "_count"].reduce(name) { $0.hasSuffix($1) ? String($0.dropLast($1.count)) : $0 }
            guard typed.contains(name) || typed.contains(family) else { throw TestFailure("sample without a TYPE line: \(line)") }
            out.samples.append(Sample(name: name, labels: labels, value: value))
        }
        return out
    }

    func value(_ name: String, _ labels: [String: String]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }
}
