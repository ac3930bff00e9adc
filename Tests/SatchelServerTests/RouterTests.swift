import SatchelSQLite
import Foundation
import SatchelTestSupport
import Hummingbird
import HummingbirdTesting
import NIOCore
import SatchelProtocol
import SatchelTesting
import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite

/// Every route and every error path, in process (no sockets): a fresh store per test with
/// space `mission` (ana: writer), `briefing` (ana: reader) and `other` (bob only).
struct RouterFixture {
    let dir = TemporaryDirectory()
    let store: SQLiteServerStore
    let service: SyncService
    let app: Application<RouterResponder<BasicRequestContext>>
    static let now: Int64 = 1_796_000_000_000

    init(limits: Limits = .default) async throws {
        store = try SQLiteServerStore(path: dir.file("server.sqlite"))
        try await store.provision(users: ["ana"], roles: ["mission": .writer, "briefing": .reader])
        try await store.provision(users: ["bob"], roles: ["other": .owner])
        service = SyncService(store: store, limits: limits, logger: .test, now: { RouterFixture.now })
        app = Application(router: HTTPAPI.router(service: service))
    }

    func code(for user: UserID, expiresAt: Int64 = RouterFixture.now + 3_600_000) async throws -> String {
        try await store.enrollmentCode(for: user, now: 1, expiresAt: expiresAt)
    }
}

func frameBody(_ message: Message) -> ByteBuffer { ByteBuffer(bytes: Frame.encode(message)) }

func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

extension TestResponse {
    var message: Message? { try? Frame.decode(Array(body.readableBytesView), maxPayloadBytes: 64 << 20) }
    var errorCode: String? {
        if case .error(let e)? = message { return e.code }
        if let json = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
           let error = json["error"] as? [String: Any] { return error["code"] as? String }
        return nil
    }
    var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] }
}

extension TestClientProtocol {
    func enroll(_ code: String, label: String = "ana-laptop") async throws -> TestResponse {
        try await execute(uri: "/v1/enroll", method: .post, headers: [.contentType: "application/json"],
                          body: ByteBuffer(string: #"{"code": "\#(code)", "label": "\#(label)", "client": "test/1"}"#))
    }

    /// Enrolls and returns (device id, token).
    func device(_ fixture: RouterFixture, user: UserID = "ana") async throws -> (DeviceID, String) {
        let json = try await enroll(try await fixture.code(for: user)).json!
        return (DeviceID(unchecked: json["device"] as! String), json["token"] as! String)
    }

    func push(_ token: String, _ mutations: [Mutation]) async throws -> TestResponse {
        try await execute(uri: "/v1/push", method: .post, headers: bearer(token), body: frameBody(.pushRequest(PushRequest(mutations: mutations))))
    }
}

@Suite struct RouterTests {
    @Test func healthAndReadiness() async throws {
        let f = try await RouterFixture()
        try await f.app.test(.router) { client in
            let health = try await client.execute(uri: "/v1/health", method: .get)
            let ready = try await client.execute(uri: "/v1/ready", method: .get)
            #expect(health.status == .ok && ready.status == .ok)
        }
    }

    @Test func enrollmentGivesATokenOnceAndRefusesBadCodes() async throws {
        let f = try await RouterFixture()
        let code = try await f.code(for: "ana")
        let expired = try await f.code(for: "ana", expiresAt: RouterFixture.now - 1)
        try await f.app.test(.router) { client in
            let ok = try await client.enroll(code.lowercased())  // codes are case-insensitive
            #expect(ok.status == .ok)
            let token = ok.json?["token"] as? String
            #expect(token?.hasPrefix("sat_") == true && token!.count > 40)
            #expect(ok.json?["user"] as? String == "ana")
            let reused = try await client.enroll(code)
            #expect(reused.status == .conflict && reused.errorCode == "enrollment_used")
            let bad = try await client.enroll("AAAA-BBBB-CCCC")
            #expect(bad.status == .unauthorized && bad.errorCode == "enrollment_invalid")
            let late = try await client.enroll(expired)
            #expect(late.status == .gone && late.errorCode == "enrollment_expired")
            let malformed = try await client.execute(uri: "/v1/enroll", method: .post, body: ByteBuffer(string: "code=1"))
            #expect(malformed.status == .badRequest && malformed.errorCode == "malformed_request")
        }
        // The token is stored only as a hash.
        let rows = try SatchelSQLiteProbe.tokenHashes(f.dir.file("server.sqlite"))
        #expect(rows.allSatisfy { $0.count == 32 })
    }

    @Test func helloNamesTheDeviceItsSpacesAndLimits() async throws {
        let f = try await RouterFixture()
        try await f.app.test(.router) { client in
            let (device, token) = try await client.device(f)
            let r = try await client.execute(uri: "/v1/hello", method: .post, headers: bearer(token), body: frameBody(.helloRequest(HelloRequest(client: "test/1"))))
            guard case .helloResponse(let hello)? = r.message else { Issue.record("no hello: \(r.status)"); return }
            #expect(hello.device == device && hello.user == "ana")
            #expect(hello.spaces.map(\.space) == ["briefing", "mission"])
            #expect(hello.limits == .default)
            // Only a client that asks gets what the server holds of its writes (older clients
            // refuse trailing bytes).
            var asking = bearer(token)
            let features = HTTPAPI.satchelFeatures
            asking[features] = "as-written, device-state"
            func hellos() async throws -> (plain: HelloResponse?, asked: HelloResponse?, features: String?) {
                let plain = try await client.execute(uri: "/v1/hello", method: .post, headers: bearer(token), body: frameBody(.helloRequest(HelloRequest(client: "test/1"))))
                let asked = try await client.execute(uri: "/v1/hello", method: .post, headers: asking, body: frameBody(.helloRequest(HelloRequest(client: "test/1"))))
                guard case .helloResponse(let p)? = plain.message, case .helloResponse(let a)? = asked.message else { return (nil, nil, nil) }
                return (p, a, asked.headers[features])
            }
            let before = try await hellos()
            #expect(before.features?.contains("device-state") == true)
            #expect(before.plain != nil && before.plain?.deviceState == nil && before.asked?.deviceState == nil)  // nothing stored yet
            var w = DeviceWriter(device)
            let first = w.createNote("n1"), second = w.createNote("n2")
            _ = try await client.push(token, [first, second])
            let after = try await hellos()
            #expect(after.plain != nil && after.plain?.deviceState == nil)
            #expect(after.asked?.deviceState == DeviceWriteState(counter: second.counter, clock: second.clock, mutation: second.id))
            let old = try await client.execute(uri: "/v1/hello", method: .post, headers: bearer(token), body: frameBody(.helloRequest(HelloRequest(protocolVersion: 99, client: "x"))))
            #expect(old.status.code == 426 && old.errorCode == "unsupported_protocol_version")
        }
    }

    @Test func missingWrongAndRevokedTokensAreRefused() async throws {
        let f = try await RouterFixture()
        try await f.app.test(.router) { client in
            let body = frameBody(.helloRequest(HelloRequest(client: "t")))
            let none = try await client.execute(uri: "/v1/hello", method: .post, body: body)
            #expect(none.status == .unauthorized && none.errorCode == "token_missing")
            let wrong = try await client.execute(uri: "/v1/hello", method: .post, headers: bearer("sat_" + String(repeating: "A", count: 43)), body: body)
            #expect(wrong.status == .unauthorized && wrong.errorCode == "token_invalid")
            let (device, token) = try await client.device(f)
            try await f.store.revoke(device, now: RouterFixture.now)
            let revoked = try await client.execute(uri: "/v1/pull", method: .post, headers: bearer(token), body: frameBody(.pullRequest(PullRequest(space: "mission", after: 0, limit: 10))))
            #expect(revoked.status == .unauthorized && revoked.errorCode == "token_revoked")
            if case .error(let e)? = revoked.message { #expect(e.message.contains("revoked on 2026-")) }
        }
    }

    @Test func pushAppliesAndPullPagesThroughChanges() async throws {
        let f = try await RouterFixture()
        try await f.app.test(.router) { client in
            let (device, token) = try await client.device(f)
            var w = DeviceWriter(device, physical: RouterFixture.now)
            let notes = (0..<5).map { w.createNote("n\($0)") }
            let r = try await client.push(token, notes)
            guard case .pushResponse(let push)? = r.message else { Issue.record("no push response"); return }
            #expect(push.results.map(\.status) == Array(repeating: .applied, count: 5))
            var cursor: Version = 0
            var got: [Change] = []
            while true {
                let p = try await client.execute(uri: "/v1/pull", method: .post, headers: bearer(token), body: frameBody(.pullRequest(PullRequest(space: "mission", after: cursor, limit: 2))))
                guard case .pullResponse(let page)? = p.message else { Issue.record("no pull response"); return }
                got += page.changes
                cursor = page.cursor
                if !page.hasMore { break }
            }
            #expect(got.map(\.key.record) == notes.map(\.key.record))
            #expect(got.map(\.mutation) == notes.map(\.id))
        }
    }

    @Test func badFramesAreRefusedWithTheirErrorAndChangeNothing() async throws {
        let f = try await RouterFixture(limits: Limits(maxRequestBytes: 64 * 1024, maxPayloadBytes: 256 * 1024))
        try await f.app.test(.router) { client in
            let (device, token) = try await client.device(f)
            var w = DeviceWriter(device, physical: RouterFixture.now)
            let good = Frame.encode(.pushRequest(PushRequest(mutations: [w.createNote("n1")])))
            func send(_ bytes: [UInt8]) async throws -> TestResponse {
                try await client.execute(uri: "/v1/push", method: .post, headers: bearer(token), body: ByteBuffer(bytes: bytes))
            }
            let json = try await send(Array(#"{"mutations": []}"#.utf8))
            #expect(json.status == .badRequest && json.errorCode == "frame_bad_magic")
            let truncated = try await send(Array(good.dropLast(5)))
            #expect(truncated.status == .badRequest && truncated.errorCode == "frame_truncated")
            var flipped = good
            flipped[flipped.count - 3] ^= 0xFF
            let corrupt = try await send(flipped)
            #expect(corrupt.status == .badRequest)
            let bomb = Frame.encode(payload: [UInt8](repeating: 0, count: 8 << 20), type: 3, compression: .init(level: 9, minimumBytes: 0, useDictionary: false))
            let bombResponse = try await send(bomb)
            #expect(bombResponse.status == .contentTooLarge && bombResponse.errorCode == "frame_too_large")
            let huge = try await send([UInt8](repeating: 0x53, count: 100 * 1024))
            #expect(huge.status == .contentTooLarge && huge.errorCode == "request_too_large")
            let wrongType = try await client.execute(uri: "/v1/push", method: .post, headers: bearer(token), body: frameBody(.pullRequest(PullRequest(space: "mission", after: 0, limit: 1))))
            #expect(wrongType.status == .badRequest && wrongType.errorCode == "wrong_message")
            // JSON errors for people using curl.
            let curl = try await client.execute(uri: "/v1/push", method: .post, headers: [.authorization: "Bearer \(token)", .accept: "application/json"], body: ByteBuffer(string: "hello, is this the sync server?"))
            #expect(curl.json != nil && curl.errorCode == "frame_bad_magic")
        }
        #expect(try await f.store.pull(space: "mission", after: 0, limit: 10).encodedChanges.isEmpty)
    }

    @Test func tooManyMutationsIsRefusedWholeWithNothingApplied() async throws {
        let f = try await RouterFixture(limits: Limits(maxMutationsPerPush: 3))
        try await f.app.test(.router) { client in
            let (device, token) = try await client.device(f)
            var w = DeviceWriter(device, physical: RouterFixture.now)
            let r = try await client.push(token, (0..<4).map { w.createNote("n\($0)") })
            #expect(r.status == .contentTooLarge && r.errorCode == "too_many_mutations")
        }
        #expect(try await f.store.pull(space: "mission", after: 0, limit: 10).encodedChanges.isEmpty)
    }

    @Test func accessIsLimitedToTheDevicesSpacesAndRoles() async throws {
        let f = try await RouterFixture()
        try await f.app.test(.router) { client in
            let (device, token) = try await client.device(f)
            var w = DeviceWriter(device, physical: RouterFixture.now)
            var other = DeviceWriter("d-someone-else", physical: RouterFixture.now)
            let r = try await client.push(token, [
                w.createNote("theirs", space: "other"),  // another space's ids
                w.createNote("ref", space: "briefing"),  // a reader pushing
                other.createNote("spoof"),  // another device's mutation
                w.createNote("mine"),
            ])
            guard case .pushResponse(let push)? = r.message else { Issue.record("no push response"); return }
            #expect(push.results.map(\.status) == [.rejected, .rejected, .rejected, .applied])
            #expect(push.results.compactMap(\.rejection?.code) == [.forbidden, .forbidden, .wrongDevice])
            #expect(push.results[1].rejection?.message.contains("can only read") == true)
            let pull = try await client.execute(uri: "/v1/pull", method: .post, headers: bearer(token), body: frameBody(.pullRequest(PullRequest(space: "other", after: 0, limit: 10))))
            #expect(pull.status == .forbidden && pull.errorCode == "space_forbidden")
        }
        #expect(try await f.store.pull(space: "other", after: 0, limit: 10).encodedChanges.isEmpty)
        #expect(try await f.store.pull(space: "briefing", after: 0, limit: 10).encodedChanges.isEmpty)
    }

    @Test func aClockFarInTheFutureIsRefused() async throws {
        let f = try await RouterFixture()
        try await f.app.test(.router) { client in
            let (device, token) = try await client.device(f)
            var w = DeviceWriter(device, physical: RouterFixture.now + 6 * 3_600_000)  // six hours ahead
            let r = try await client.push(token, [w.createNote("future")])
            guard case .pushResponse(let push)? = r.message else { Issue.record("no push response"); return }
            #expect(push.results[0].rejection?.code == .clockTooFarAhead)
            #expect(push.results[0].rejection?.message.contains("6 h ahead") == true)
        }
        #expect(try await f.store.pull(space: "mission", after: 0, limit: 10).encodedChanges.isEmpty)
    }
}

/// Reads the devices table directly, to check what is stored.
enum SatchelSQLiteProbe {
    static func tokenHashes(_ path: String) throws -> [[UInt8]] {
        let db = try SatchelSQLite.Database(path: path)
        return try db.query("SELECT token_hash FROM devices") { $0.blob(at: 0) }
    }
}
