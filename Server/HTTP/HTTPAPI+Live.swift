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
    /// a heartbeat once the connection is subscribed, `advanced` events for the device's spaces
    /// and a heartbeat every `heartbeat` (PROTOCOL.md §14.3).
    ///
    /// `connections` bounds every connection (see `ConnectionLimits`): Hummingbird's idle timeout
    /// on HTTP ones (never on live ones, whose pipeline has no HTTP handlers left after the
    /// upgrade), and `GuardedChannel` around it for the first head, the connection count and the
    /// WebSocket handshakes Hummingbird would leave unanswered (`UpgradeCheck`).
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

    /// How long a connection the server closed (revoked, shutting down) waits for the device's
    /// answering close frame before the socket is closed anyway.
    static let liveCloseTimeout: Duration = .seconds(5)

    /// Whether a request upgrades to the live WebSocket, and what runs on it if so.
    static func live(service: SyncService, heartbeat: Duration) -> @Sendable (HTTPRequest, any Channel, Logger) async throws -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        { head, channel, logger in
            guard head.path?.split(separator: "?").first == "/v1/live" else { return .dontUpgrade }
            let authorization = head.headerFields[.authorization]
            let device: DeviceInfo
            do {
                device = try await service.authenticate(authorization: authorization)
            } catch {
                // Hummingbird answers a refused upgrade 400 with an empty body; log why.
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
                            try await send(events, to: outbound)
                            // The device answers the close frame, which ends `inbound` below;
                            // one that does not is cut off.
                            try await Task.sleep(for: liveCloseTimeout)
                            try await channel.close()
                        }
                        group.addTask {
                            try await beat(every: heartbeat, subscription: id, device: device.id, authorization: authorization, service: service)
                        }
                        // Read here, in the handler's own task, and never cancelled: cancelling a
                        // read of the channel ends its input for good, and the connection would
                        // then close before the `revoked` event and the close frame were out
                        // (revocations ended as a bare close 1000 or a dropped connection). It
                        // ends when the device closes, or answers the server's close.
                        for try await _ in inbound {}
                        group.cancelAll()
                    }
                } onGracefulShutdown: {
                    service.live.unsubscribe(id)
                }
            }
        }
    }

    /// The one task that writes to a live connection: every event of its subscription in order,
    /// then the close frame: 1008 after `revoked`, 1001 when the server let go of it (shutdown).
    static func send(_ events: AsyncStream<LiveEvent>, to outbound: WebSocketOutboundWriter) async throws {
        for await event in events {
            try await outbound.write(.binary(ByteBuffer(bytes: Frame.encode(.live(event)))))
            if case .revoked = event {
                try await outbound.close(.policyViolation, reason: "revoked")
                return
            }
        }
        try await outbound.close(.goingAway, reason: "server closing")
    }

    /// Heartbeats for subscription `id`, through the hub so that the writer sends them in order
    /// with the events. The first goes out once the connection is subscribed, after checking the
    /// token once more: a revocation committed between the upgrade's check and the subscription
    /// was announced to nobody. Each later beat checks again, the fallback should the store's
    /// feed lose an event (a subscriber that fell far behind).
    static func beat(every interval: Duration, subscription id: Int, device: DeviceID, authorization: String?, service: SyncService) async throws {
        while true {
            do {
                _ = try await service.authenticate(authorization: authorization)
            } catch {
                // The store failing for a moment (a 5xx) is no revocation: check at the next beat.
                let refusal = APIError(answering: error)
                if refusal.status == 401 {
                    service.live.revoke(device: device, message: refusal.message)
                    return
                }
            }
            service.live.send(.heartbeat(serverTime: service.now()), to: id)
            try await Task.sleep(for: interval)
        }
    }
}
