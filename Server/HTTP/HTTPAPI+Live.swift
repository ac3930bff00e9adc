import Hummingbird
public import HummingbirdCore
import HummingbirdWebSocket
import HTTPTypes
import Logging
import NIOCore
import SatchelProtocol
public import SatchelServerCore
import ServiceLifecycle

extension HTTPAPI {
    /// The HTTP/1 server with the live WebSocket at `/v1/live`: authenticated on upgrade, then
    /// it sends a heartbeat at once, then `advanced` events for the device's spaces and a
    /// heartbeat every `heartbeat`.
    ///
    /// `connections` bounds every connection (see `ConnectionLimits`): Hummingbird's idle timeout
    /// on HTTP ones (never on live ones, whose pipeline has no HTTP handlers left after the
    /// upgrade), and `GuardedChannel` around it for the first head and the connection count.
    public static func server(service: SyncService, heartbeat: Duration, connections: ConnectionLimits = .default) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            GuardedChannel(
                base: HTTP1WebSocketUpgradeChannel(
                    responder: responder,
                    configuration: .init(http1: .init(idleTimeout: TimeAmount(connections.idleTimeout))),
                    shouldUpgrade: live(service: service, heartbeat: heartbeat)),
                limits: connections)
        }
    }

    /// Whether a request upgrades to the live WebSocket, and what runs on it if so.
    static func live(service: SyncService, heartbeat: Duration) -> @Sendable (HTTPRequest, any Channel, Logger) async throws -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        { head, _, logger in
            guard head.path?.split(separator: "?").first == "/v1/live" else { return .dontUpgrade }
            let device: DeviceInfo
            do {
                device = try await service.authenticate(authorization: head.headerFields[.authorization])
            } catch {
                // Refused upgrades fall through to the router, which answers 404; log why.
                logger.info("live connection refused", metadata: ["reason": "\(APIError(answering: error).code)"])
                return .dontUpgrade
            }
            let spaces = try await service.liveSpaces(of: device)
            return .upgrade([:]) { inbound, outbound, _ in
                let (id, events) = service.live.subscribe(device: device.id, spaces: spaces)
                defer { service.live.unsubscribe(id) }
                // A server shutting down ends its live connections rather than waiting for the
                // devices to hang up (it would wait for ever): they reconnect, with backoff.
                try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await event in events {
                            try await outbound.write(.binary(ByteBuffer(bytes: Frame.encode(.live(event)))))
                            if case .revoked = event { break }
                        }
                        try await outbound.close(.policyViolation, reason: "revoked or closed")
                    }
                    group.addTask {
                        // A heartbeat at once says the connection is subscribed: a device syncs
                        // then, knowing every later change will be announced.
                        try await outbound.write(.binary(ByteBuffer(bytes: Frame.encode(.live(.heartbeat(serverTime: service.now()))))))
                        while !Task.isCancelled {
                            try await Task.sleep(for: heartbeat)
                            // Revocations reach live connections through the store's feed at
                            // once; this check is the fallback should the feed's event be lost
                            // (a subscriber that fell far behind).
                            if (try? await service.authenticate(authorization: head.headerFields[.authorization])) == nil {
                                service.live.revoke(device: device.id, message: "this device's access was withdrawn; ask your operator")
                                return
                            }
                            try await outbound.write(.binary(ByteBuffer(bytes: Frame.encode(.live(.heartbeat(serverTime: service.now()))))))
                        }
                    }
                    group.addTask {
                        // The device sends nothing; this ends when it closes the connection.
                        for try await _ in inbound {}
                    }
                    _ = try await group.next()
                    group.cancelAll()
                }
                } onGracefulShutdown: {
                    service.live.unsubscribe(id)
                }
            }
        }
    }
}
