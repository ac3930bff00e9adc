import Foundation
import Hummingbird
import HummingbirdTesting
import SatchelProtocol
import SatchelTestSupport
import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite

/// What `/v1/live` answers, byte for byte over loopback (PROTOCOL.md §14.3): every handshake gets
/// an answer, the first heartbeat comes at once, and the `Bearer` scheme is case-insensitive.
@Suite struct LiveHandshakeTests {
    /// A handshake as a client writes it, with `changes` applied to its header lines (nil drops one).
    static func handshake(port: Int, token: String?, _ changes: [String: String?] = [:]) -> String {
        var fields: [(String, String?)] = [
            ("Host", "127.0.0.1:\(port)"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
            ("Authorization", token.map { "Bearer \($0)" }),
        ]
        for (name, value) in changes {
            if let i = fields.firstIndex(where: { $0.0 == name }) { fields[i].1 = value } else { fields.append((name, value)) }
        }
        return "GET /v1/live HTTP/1.1\r\n" + fields.compactMap { f in f.1.map { "\(f.0): \($0)\r\n" } }.joined() + "\r\n"
    }

    /// Runs blocking socket work on a thread of its own: on the 2 threads of Swift's cooperative
    /// pool it would starve the in-process server it talks to (the upgrade is async) on a busy machine.
    static func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
    }

    /// The first answer to `request` on a new connection, and whether the server then closed it.
    static func answer(port: Int, _ request: String, waitForClose: Bool = true) throws -> (message: HTTPMessage, closed: Bool) {
        let socket = try TCPSocket.connect(port: port)
        try socket.send(request)
        guard let message = try socket.readHTTPMessage(timeout: .seconds(30)) else { throw TestFailure("no answer to \(request)") }
        let closed = message.status == 101 || !waitForClose ? false : socket.waitForClose(within: .seconds(5)) != nil
        return (message, closed)
    }

    @Test func theCheckReadsHandshakesAsTheUpgraderDoes() {
        func status(_ request: String) -> String? {
            UpgradeCheck.refusal(forHead: Array(request.utf8)).map { String(decoding: $0, as: UTF8.self).split(separator: "\r\n").first.map(String.init) ?? "" }
        }
        #expect(status(Self.handshake(port: 1, token: "t")) == nil)
        #expect(status(Self.handshake(port: 1, token: "t", ["Sec-WebSocket-Version": "12"])) == "HTTP/1.1 426 Upgrade Required")
        #expect(status(Self.handshake(port: 1, token: "t", ["Sec-WebSocket-Key": ""])) == "HTTP/1.1 400 Bad Request")
        #expect(status(Self.handshake(port: 1, token: "t", ["Connection": "keep-alive, Upgrade", "Upgrade": "WebSocket"])) == nil)
        #expect(status("GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n") == nil)
        #expect(UpgradeCheck.verdict(forHead: Array("GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n".utf8)) == .ignoreUpgrade)
        let h2c = "POST /v1/enroll HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nContent-Length: 2\r\n\r\n{}"
        #expect(String(decoding: UpgradeCheck.removingUpgrade(from: Array(h2c.utf8)), as: UTF8.self)
            == "POST /v1/enroll HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nContent-Length: 2\r\n\r\n{}")
        #expect(status("POST /v1/live HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\n") == "HTTP/1.1 400 Bad Request")
    }

    @Test func everyHandshakeIsAnsweredAsDocumented() async throws {
        let f = try await RouterFixture()
        // A minute between heartbeats: the one that comes within seconds is the first, at once.
        let app = Application(router: HTTPAPI.router(service: f.service), server: HTTPAPI.server(service: f.service, heartbeat: .seconds(60)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let (_, token) = try await client.device(f)

            // Whole handshakes: 101 with any case of the scheme, then a heartbeat at once (long
            // before the 60 s interval, even on a busy machine).
            for scheme in ["Bearer", "bearer", "BEARER"] {
                let request = Self.handshake(port: port, token: nil, ["Authorization": "\(scheme) \(token)"])
                let (upgraded, first, waited) = try await Self.offThePool { () throws -> (HTTPMessage, [UInt8], Duration) in
                    let socket = try TCPSocket.connect(port: port)
                    try socket.send(request)
                    guard let upgraded = try socket.readHTTPMessage(timeout: .seconds(30)) else { throw TestFailure("no answer") }
                    var bytes = socket.pending
                    let start = ContinuousClock.now
                    while bytes.count < 2 || bytes.count < 2 + Int(bytes[1] & 0x7F), ContinuousClock.now - start < .seconds(30) {
                        guard case .data(let more) = socket.read(timeout: .seconds(30)) else { break }
                        bytes += more
                    }
                    return (upgraded, bytes, ContinuousClock.now - start)
                }
                #expect(upgraded.status == 101, "\(scheme): \(upgraded.startLine)")
                #expect(upgraded.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
                #expect(first.first == 0x82, "\(scheme): the first message is not one binary frame")
                let length = first.count >= 2 ? Int(first[1] & 0x7F) : 0
                let frame = first.count >= 2 + length && length < 126 ? Array(first[2..<(2 + length)]) : []
                guard case .live(.heartbeat)? = try? Frame.decode(frame, maxPayloadBytes: 1 << 20) else {
                    Issue.record("\(scheme): the first message is not a heartbeat")
                    continue
                }
                #expect(waited < .seconds(30))
            }

            // Refused or broken handshakes: an answer, an empty body, and the connection closed.
            let cases: [(String, String, Int)] = [
                ("no token", Self.handshake(port: port, token: nil), 400),
                ("a wrong token", Self.handshake(port: port, token: "sat_not-a-token"), 400),
                ("version 12", Self.handshake(port: port, token: token, ["Sec-WebSocket-Version": "12"]), 426),
                ("no version", Self.handshake(port: port, token: token, ["Sec-WebSocket-Version": nil]), 426),
                ("an empty key", Self.handshake(port: port, token: token, ["Sec-WebSocket-Key": ""]), 400),
                ("no key", Self.handshake(port: port, token: token, ["Sec-WebSocket-Key": nil]), 400),
                ("no Connection: Upgrade", Self.handshake(port: port, token: token, ["Connection": "keep-alive"]), 400),
            ]
            for (name, request, status) in cases {
                let (message, closed) = try await Self.offThePool { try Self.answer(port: port, request) }
                #expect(message.status == status, "\(name): \(message.startLine)")
                #expect(message.body.isEmpty, "\(name): a body")
                #expect(closed, "\(name): the connection stayed open")
                if status == 426 { #expect(message.header("sec-websocket-version") == "13", "\(name)") }
            }
            // No handshake at all: an unknown route.
            let plain = try await Self.offThePool { try Self.answer(port: port, "GET /v1/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", waitForClose: false) }
            #expect(plain.message.status == 404)
            // Another protocol in `Upgrade` (curl --http2) is ignored: served as plain HTTP/1.1.
            let h2c = try await Self.offThePool { try Self.answer(port: port, "GET /v1/health HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings, close\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", waitForClose: false) }
            #expect(h2c.message.status == 200 && h2c.message.body == Array("ok\n".utf8))
            let other = try await Self.offThePool { try Self.answer(port: port, "GET /v1/live HTTP/1.1\r\nHost: x\r\nUpgrade: AAA\r\nConnection: Upgrade, close\r\n\r\n", waitForClose: false) }
            #expect(other.message.status == 404)

            // Error answers of the sync routes name the features too (§14).
            let refused = try await client.execute(uri: "/v1/hello", method: .post)
            #expect(refused.status == .unauthorized)
            #expect(refused.headers[HTTPAPI.satchelFeatures] == SyncEndpoints.features)
            let json = try await client.execute(uri: "/v1/pull", method: .post, headers: [.accept: "application/json"])
            #expect(json.headers[HTTPAPI.satchelFeatures] == SyncEndpoints.features)
        }
    }
}
