import HummingbirdWSClient
import Logging
public import SatchelProtocol

/// The live events a running server sends a device, read from its WebSocket as a device reads
/// them: the stream ends when the server closes the connection. Cancel `connection` to hang up.
public func liveEvents(port: Int, token: String) -> (events: AsyncStream<LiveEvent>, connection: Task<Void, any Error>) {
    let events = AsyncStream<LiveEvent>.makeStream()
    let connection = Task {
        try await WebSocketClient.connect(
            url: "ws://127.0.0.1:\(port)/v1/live",
            configuration: .init(additionalHeaders: [.authorization: "Bearer \(token)"]), logger: Logger(label: "live-test")
        ) { inbound, _, _ in
            for try await message in inbound.messages(maxSize: 1 << 20) {
                guard case .binary(let buffer) = message,
                      case .live(let event) = try Frame.decode(Array(buffer.readableBytesView), maxPayloadBytes: 1 << 20) else { continue }
                events.continuation.yield(event)
            }
            events.continuation.finish()
        }
        return
    }
    return (events.stream, connection)
}
