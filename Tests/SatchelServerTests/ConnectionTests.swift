import Foundation
import HummingbirdWSClient
import Logging
import SatchelProtocol
import SatchelTestSupport
import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite

/// The real server's connection hygiene, over raw sockets: a half-sent head is closed in time,
/// connections past the limit are closed at once while the others are served, and a live
/// connection is never closed as idle.
@Suite(.serialized) struct ConnectionTests {
    static let health = "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    /// Sends a health check on `socket` and reads the answer's status.
    func health(_ socket: TCPSocket) throws -> Int? {
        try socket.send(Self.health)
        return try socket.readHTTPMessage(timeout: .seconds(10))?.status
    }

    @Test func halfARequestHeadIsClosedWithinTheHeaderTimeout() async throws {
        let dir = TemporaryDirectory()
        let server = try await ServerProcess(data: dir.file("data"), extraArguments: ["--header-timeout-seconds", "2"])
        defer { _ = server.terminate() }
        let slow = try TCPSocket.connect(port: server.port)
        try slow.send("POST /v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        let closedAfter = try #require(slow.waitForClose(within: .seconds(15)), "half a head was held open for 15 s")
        #expect(closedAfter >= .milliseconds(1_500) && closedAfter < .seconds(8), "closed after \(closedAfter)")
        // A connection that sent nothing at all is closed the same way.
        let silent = try TCPSocket.connect(port: server.port)
        #expect(silent.waitForClose(within: .seconds(15)) != nil)
        // One that finishes its head in time is served.
        let prompt = try TCPSocket.connect(port: server.port)
        #expect(try health(prompt) == 200)
    }

    @Test func anIdleConnectionIsClosedAfterTheIdleTimeoutAndAHeadStartedLaterToo() async throws {
        let dir = TemporaryDirectory()
        let server = try await ServerProcess(data: dir.file("data"), extraArguments: ["--idle-timeout-seconds", "2"])
        defer { _ = server.terminate() }
        let idle = try TCPSocket.connect(port: server.port)
        #expect(try health(idle) == 200)
        let closedAfter = try #require(idle.waitForClose(within: .seconds(15)), "an idle connection was held for 15 s")
        #expect(closedAfter >= .milliseconds(1_500) && closedAfter < .seconds(8), "closed after \(closedAfter)")
        // A later request's head begun and left half-sent does not keep it open either.
        let slow = try TCPSocket.connect(port: server.port)
        #expect(try health(slow) == 200)
        try slow.send("GET /v1/health HTTP/1.1\r\nHo")
        #expect(slow.waitForClose(within: .seconds(15)) != nil)
    }

    @Test func connectionsBeyondTheLimitAreClosedAtOnceWhileOthersAreServed() async throws {
        let dir = TemporaryDirectory()
        let log = dir.file("server.log")
        let server = try await ServerProcess(data: dir.file("data"), extraArguments: ["--max-connections", "3"], logFile: log)
        defer { _ = server.terminate() }
        let held = try (0..<3).map { _ in try TCPSocket.connect(port: server.port) }
        for socket in held { #expect(try health(socket) == 200) }
        for _ in 0..<5 {
            let extra = try TCPSocket.connect(port: server.port)
            try? extra.send(Self.health)
            let closedAfter = try #require(extra.waitForClose(within: .seconds(5)), "a connection past the limit was kept")
            #expect(closedAfter < .seconds(2))
        }
        // The connections already open are still answered.
        for socket in held { #expect(try health(socket) == 200) }
        // One line for the five refusals, saying what to change.
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").filter { $0.contains("connection limit reached") }
        #expect(lines.count == 1, "\(lines)")
        #expect(lines.first?.contains("warning") == true && lines.first?.contains("max-connections") == true)
        // A closed one frees its place.
        held[0].close()
        try await Task.sleep(for: .milliseconds(300))
        let next = try TCPSocket.connect(port: server.port)
        #expect(try health(next) == 200)
    }

    @Test func aLiveConnectionOutlastsTheIdleAndHeaderTimeouts() async throws {
        let world = try await ServerWorld(
            users: ["ana"], roles: [:], extraArguments: ["--idle-timeout-seconds", "1", "--header-timeout-seconds", "1", "--heartbeat-seconds", "1"])
        let server = world.server
        defer { _ = server.terminate() }
        let phone = try await HTTPDevice.enroll(url: server.url, code: try await world.enrollmentCode(for: "ana"), label: "phone")
        let (events, client) = liveEvents(port: server.port, token: phone.token)
        defer { client.cancel() }
        // Five heartbeats, a second apart: the connection lives well past both timeouts.
        var count = 0
        for await event in events {
            if case .heartbeat = event { count += 1 }
            if count == 5 { break }
        }
        #expect(count == 5, "the live connection closed after \(count) heartbeats")
    }
}
