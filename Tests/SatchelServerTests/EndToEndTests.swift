import Foundation
import SatchelTestSupport
import HummingbirdWSClient
import Logging
import NIOCore
import SatchelProtocol
import SatchelTesting
import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite

/// The real `satchel-server` binary over loopback HTTP: two devices enroll, push and pull, and
/// one watches the live WebSocket.
@Suite(.serialized) struct EndToEndTests {
    @Test func twoDevicesSyncThroughARunningServer() async throws {
        let world = try await ServerWorld(users: ["ana", "bob"])
        let server = world.server
        defer { _ = server.terminate() }
        let ana = try await HTTPDevice.enroll(url: server.url, code: try await world.enrollmentCode(for: "ana"), label: "ana-laptop")
        let bob = try await HTTPDevice.enroll(url: server.url, code: try await world.enrollmentCode(for: "bob"), label: "bob-phone")

        let physical = Int64(Date().timeIntervalSince1970 * 1000)
        var a = DeviceWriter(ana.id, physical: physical), b = DeviceWriter(bob.id, physical: physical)
        let note = a.createNote("note-1", title: "Z-Park visit", body: "We met the park office. Lunch was at noon.")
        #expect(try await ana.push([note]).map(\.status) == [.applied])

        // Bob pulls it, then both edit the same note concurrently.
        let pulled = try await bob.pullAll("mission")
        #expect(pulled.count == 1 && pulled[0].key == note.key)
        let version = pulled[0].version
        let bobEdit = b.mutation(.patch, note.key, base: version, ["body": .set(.text("We met the park office. Lunch was at one."))])
        let anaEdit = a.mutation(.patch, note.key, base: version, ["title": .set(.string("Z-Park visit, day 1"))])
        #expect(try await bob.push([bobEdit]).map(\.status) == [.applied])
        #expect(try await ana.push([anaEdit]).map(\.status) == [.merged])

        // Both replay the log and end with the same record, which has both edits.
        func replay(_ changes: [Change]) throws -> [FieldName: Value]? {
            var values: [FieldName: Value]?
            for c in changes where c.key == note.key { values = try c.apply(to: values) }
            return values
        }
        let seenByAna = try replay(try await ana.pullAll("mission"))
        let seenByBob = try replay(try await bob.pullAll("mission"))
        #expect(seenByAna == seenByBob)
        #expect(seenByAna?["title"] == .string("Z-Park visit, day 1"))
        #expect(seenByAna?["body"] == .text("We met the park office. Lunch was at one."))
        #expect(server.terminate() == 0, "SIGTERM should shut down cleanly")
    }

    @Test func liveConnectionAnnouncesNewChanges() async throws {
        let world = try await ServerWorld(users: ["ana"], extraArguments: ["--heartbeat-seconds", "1"])
        let server = world.server
        defer { _ = server.terminate() }
        let ana = try await HTTPDevice.enroll(url: server.url, code: try await world.enrollmentCode(for: "ana"), label: "laptop")
        let phone = try await HTTPDevice.enroll(url: server.url, code: try await world.enrollmentCode(for: "ana"), label: "phone")

        let (events, client) = liveEvents(port: server.port, token: phone.token)
        defer { client.cancel() }
        var iterator = events.makeAsyncIterator()
        // The first heartbeat proves the connection is up before we write.
        guard case .heartbeat? = await iterator.next() else { Issue.record("no heartbeat"); return }
        var a = DeviceWriter(ana.id, physical: Int64(Date().timeIntervalSince1970 * 1000))
        _ = try await ana.push([a.createNote("n1")])
        var advanced: LiveEvent?
        while let e = await iterator.next() {
            if case .advanced = e { advanced = e; break }
        }
        #expect(advanced == .advanced(space: "mission", head: 1))
    }

    @Test func liveConnectionWithoutAValidTokenIsRefused() async throws {
        let dir = TemporaryDirectory()
        let server = try await ServerProcess(data: dir.file("data"))
        defer { _ = server.terminate() }
        await #expect(throws: (any Error).self) {
            try await WebSocketClient.connect(
                url: "ws://127.0.0.1:\(server.port)/v1/live",
                configuration: .init(additionalHeaders: [.authorization: "Bearer sat_wrong"]), logger: Logger(label: "t")
            ) { _, _, _ in }
        }
    }
}
