import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOWebSocket
import SatchelProtocol
import SatchelTestSupport
import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite

/// A revocation ends a live connection one way only (PROTOCOL.md §14.3): the `revoked` event,
/// then close code 1008. It once raced: the heartbeat's own token check ended the connection's
/// task group, cancelling the writer before it sent `revoked` (a bare close 1000), or the read
/// of the socket, which shut the connection before the event was out (a dropped connection).
/// Heartbeats every 10 ms here put that check beside the store's feed in nearly every trial.
@Suite struct LiveRevocationTests {
    enum Outcome: Equatable, CustomStringConvertible {
        /// The server refused the upgrade: the revocation was in before it authenticated.
        case refused
        /// What a live connection saw: its events (heartbeats left out) and the close code.
        case closed(events: [String], code: Int?)

        var description: String {
            switch self {
            case .refused: "refused"
            case .closed(let events, let code): "events \(events), close \(code.map(String.init) ?? "none (dropped)")"
            }
        }
    }

    @Test func revokedAlwaysArrivesBeforeClose1008() async throws {
        let dir = TemporaryDirectory()
        let store = try SQLiteServerStore(path: dir.file("server.sqlite"))
        try await store.provision(users: ["ana"], roles: ["mission": .writer])
        let service = SyncService(store: store, limits: .default, logger: .test, now: { Timestamp(Date().timeIntervalSince1970 * 1000) })
        let app = Application(
            router: HTTPAPI.router(service: service), server: HTTPAPI.server(service: service, heartbeat: .milliseconds(10)),
            services: service.backgroundServices, logger: .test)
        let trials = 60
        try await app.test(.live) { client in
            let port = try #require(client.port)
            var outcomes: [Outcome] = []
            for trial in 0..<trials {
                let json = try #require(try await client.enroll(try await store.enrollmentCode(for: "ana", now: 1, expiresAt: .max), label: "phone-\(trial)").json)
                let device = DeviceID(unchecked: json["device"] as! String), token = json["token"] as! String
                // Every third trial revokes while the connection is being made (before or just
                // after the subscription), the others once it heard a heartbeat, some of them
                // up to two heartbeats later.
                let delay: Duration? = trial % 3 == 0 ? nil : .milliseconds(trial % 3 == 1 ? 0 : trial % 20)
                outcomes.append(try await Self.connectAndRevoke(port: port, token: token, delay: delay) {
                    try await AdminService(store: store, now: service.now).revoke(device)
                })
            }
            let wrong = outcomes.filter { $0 != .refused && $0 != .closed(events: ["revoked"], code: 1008) }
            #expect(wrong.isEmpty, "\(wrong.count) of \(trials) revocations ended otherwise: \(wrong)")
            // The trials must have exercised live connections, not only refusals.
            #expect(outcomes.filter { $0 != .refused }.count >= trials / 2, "\(outcomes)")
        }
        await store.close()
    }

    /// Opens a live connection and revokes its device after its first heartbeat plus `delay`, or
    /// (nil) at once, while the connection is being made.
    static func connectAndRevoke(port: Int, token: String, delay: Duration?, revoke: @escaping @Sendable () async throws -> Void) async throws -> Outcome {
        let events = Locked<[String]>([]), upgraded = Locked(false)
        let revoking = Locked<Task<Void, any Error>?>(nil)
        if delay == nil { revoking.withLock { $0 = Task { try await revoke() } } }
        let close: WebSocketCloseFrame?
        do {
            close = try await WebSocketClient.connect(
                url: "ws://127.0.0.1:\(port)/v1/live",
                configuration: .init(additionalHeaders: [.authorization: "Bearer \(token)"]), logger: Logger(label: "live-revocation")
            ) { inbound, _, _ in
                upgraded.withLock { $0 = true }
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    guard case .binary(let buffer) = message,
                          case .live(let event) = try Frame.decode(Array(buffer.readableBytesView), maxPayloadBytes: 1 << 20) else {
                        events.withLock { $0.append("not a live event") }
                        continue
                    }
                    switch event {
                    case .heartbeat:
                        if let delay {
                            revoking.withLock { task in
                                if task == nil { task = Task { try await Task.sleep(for: delay); try await revoke() } }
                            }
                        }
                    case .advanced: events.withLock { $0.append("advanced") }
                    case .revoked: events.withLock { $0.append("revoked") }
                    }
                }
            }
        } catch {
            try await revoking.withLock { $0 }?.value
            // An error after the upgrade is a connection that broke, not a refusal.
            return upgraded.withLock { $0 } ? .closed(events: events.withLock { $0 }, code: nil) : .refused
        }
        try await revoking.withLock { $0 }?.value
        return .closed(events: events.withLock { $0 }, code: close.map { Int(UInt16(webSocketErrorCode: $0.closeCode)) })
    }
}
