import Foundation
import HummingbirdWSClient
import Logging
import SatchelProtocol
import SatchelTesting
import SatchelTestSupport
import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite

/// Operator commands against a running server (admin API, `--server`) and on its data
/// directory, with `--json` output checked; revocation refuses the next request and closes the
/// live connection.
@Suite(.serialized) struct AdminTests {
    struct Setup {
        let world: ServerWorld
        var dir: TemporaryDirectory { world.dir }
        var data: String { world.data }
        var server: ServerProcess { world.server }
        let token: String
        let ana: HTTPDevice

        init() async throws {
            world = try await ServerWorld(users: ["ana"], extraArguments: ["--heartbeat-seconds", "1"])
            let created = try JSONSerialization.jsonObject(with: Data(try await ServerProcess.run(["operator-token", "create", "--data", world.data, "--json"]).utf8)) as! [String: Any]
            token = created["token"] as! String
            ana = try await HTTPDevice.enroll(url: world.server.url, code: try await world.enrollmentCode(for: "ana"), label: "ana-phone")
        }

        func json(_ args: [String], remote: Bool) async throws -> Any {
            let target = remote ? ["--server", server.url, "--token", token] : ["--data", data]
            return try JSONSerialization.jsonObject(with: Data(try await ServerProcess.run(args + target + ["--json"]).utf8))
        }
    }

    @Test func listingCommandsGiveTheSameJSONRemotelyAndLocally() async throws {
        let s = try await Setup()
        defer { s.server.terminate() }
        var w = DeviceWriter(s.ana.id, physical: Int64(Date().timeIntervalSince1970 * 1000))
        _ = try await s.ana.push([w.createNote("n1"), w.createNote("elsewhere", space: "nowhere")])
        _ = try await s.ana.pullAll("mission")
        for command in [["device", "list"], ["user", "list"], ["space", "list"]] {
            let remote = try await s.json(command, remote: true) as! [[String: Any]]
            let local = try await s.json(command, remote: false) as! [[String: Any]]
            #expect(remote.count == local.count && !remote.isEmpty, "\(command)")
            #expect(remote.map { $0["id"] as? String } == local.map { $0["id"] as? String }, "\(command)")
        }
        let devices = try await s.json(["device", "list"], remote: true) as! [[String: Any]]
        #expect(devices.first?["label"] as? String == "ana-phone" && devices.first?["status"] as? String == "active")
        let detail = try await s.json(["device", "show", s.ana.id.rawValue], remote: true) as! [String: Any]
        let spaces = detail["spaces"] as! [[String: Any]]
        #expect(spaces.first?["space"] as? String == "mission")
        #expect(spaces.first?["notYetPulled"] as? Int == 0)
        #expect(detail["lastSuccessfulSync"] as? String != nil)
        let rejected = detail["rejected"] as! [[String: Any]]
        #expect(rejected.count == 1 && rejected.first?["code"] as? String == "forbidden")
        let mission = (try await s.json(["space", "list"], remote: false) as! [[String: Any]]).first { $0["id"] as? String == "mission" }
        #expect(mission?["head"] as? Int == 1)
    }

    @Test func revocationRefusesTheNextRequestAndClosesTheLiveConnection() async throws {
        let s = try await Setup()
        defer { s.server.terminate() }
        let (events, client) = liveEvents(port: s.server.port, token: s.ana.token)
        defer { client.cancel() }
        var iterator = events.makeAsyncIterator()
        guard case .heartbeat? = await iterator.next() else { Issue.record("no heartbeat"); return }

        let revoked = try await s.json(["device", "revoke", s.ana.id.rawValue], remote: true) as! [String: Any]
        #expect(revoked["status"] as? String == "revoked")
        var sawRevoked = false
        while let event = await iterator.next() {
            if case .revoked(let message) = event {
                sawRevoked = true
                #expect(message.contains("revoked"))
            }
        }
        #expect(sawRevoked, "the live connection should be told, then closed")
        let (status, message) = try await s.ana.send("/v1/pull", .pullRequest(PullRequest(space: "mission", after: 0, limit: 10)))
        #expect(status == 401)
        if case .error(let e) = message { #expect(e.code == "token_revoked") } else { Issue.record("expected an error frame") }
    }

    @Test func disablingAUserLocallyRefusesTheirDevices() async throws {
        let s = try await Setup()
        defer { s.server.terminate() }
        let user = try await s.json(["user", "disable", "ana"], remote: false) as! [String: Any]
        #expect(user["disabledAt"] as? String != nil)
        let (status, message) = try await s.ana.send("/v1/hello", .helloRequest(HelloRequest(client: "t")))
        #expect(status == 401)
        if case .error(let e) = message { #expect(e.code == "user_disabled") }
    }

    @Test func theAdminAPINeedsAnOperatorToken() async throws {
        let s = try await Setup()
        defer { s.server.terminate() }
        // A device token is not an operator token.
        await #expect(throws: (any Error).self) { try await ServerProcess.run(["device", "list", "--server", s.server.url, "--token", s.ana.token]) }
        await #expect(throws: (any Error).self) { try await ServerProcess.run(["device", "list", "--server", s.server.url, "--token", "sop_wrong"]) }
    }
}
